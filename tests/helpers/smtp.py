"""A real SMTP server for tests (aiosmtpd on a loopback TCP port) that misbehaves on request.

Other processes (a huey_consumer started by a test) reach it over TCP at .host:.port. The
`smtp_server` fixture (tests/conftest.py) gives each test a running one:

    def test_x(smtp_server):
        smtp_server.plan = FaultPlan(rcpt={"bad@x.test": "550 5.1.1 No such user"})
        ... send to smtp_server.host, smtp_server.port ...
        [msg] = smtp_server.wait_for(1)

Fault plans are keyed by address (lower case compared) or "*" for everyone; a value wrapped in
FirstTries(n, value) applies to the first n attempts for that address only, then heals. A
sleep in a plan is the fault itself (a slow or hanging server), not a way for tests to wait.
"""

import asyncio
import smtplib
import ssl
import threading
import time
from collections import Counter
from collections.abc import Collection
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from email import message_from_bytes
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parseaddr

from aiosmtpd.smtp import AuthResult
from aiosmtpd.smtp import LoginPassword

from webapp.core.mail.smtp_settings import SmtpSettings
from webapp.infra.capture import LoopbackController


@dataclass(frozen=True)
class FirstTries:
    """A fault for the first `tries` attempts of an address only."""

    tries: int
    value: object


@dataclass
class FaultPlan:
    """How the test server answers, per address; empty means a well-behaved server."""

    mail_from: Mapping = field(default_factory=dict)  # sender -> reply at MAIL FROM
    rcpt: Mapping = field(default_factory=dict)  # recipient -> reply at RCPT TO
    sleep_at_rcpt: Mapping = field(default_factory=dict)  # recipient -> seconds before replying
    data: Mapping = field(default_factory=dict)  # recipient -> reply after the message data
    sleep_in_data: Mapping = field(default_factory=dict)  # recipient -> seconds before the reply
    # Recipients whose message is received and then the connection closed without a reply.
    drop_after_data: Mapping | Collection = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.drop_after_data, Mapping):
            self.drop_after_data = dict.fromkeys(self.drop_after_data, True)


@dataclass
class ReceivedMessage:
    """One message the server accepted (or received before dropping its reply)."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    time: float

    @property
    def email(self) -> EmailMessage:
        """The message parsed."""
        return BytesParser(policy=policy.default).parsebytes(self.data)


class _FaultHandler:
    """aiosmtpd's handler: answers each SMTP step as the owner's FaultPlan says."""

    def __init__(self, owner: "SmtpTestServer") -> None:
        self.owner = owner

    def _fault(self, step: str, table: Mapping, address: str):
        """Count this attempt at the step; the plan's value for the address now, if any."""
        owner = self.owner
        key = address.lower()
        with owner._lock:
            owner.attempts[(step, key)] += 1
            attempt = owner.attempts[(step, key)]
        lowered = {k.lower(): v for k, v in table.items()}
        value = lowered.get(key, lowered.get("*"))
        if isinstance(value, FirstTries):
            return value.value if attempt <= value.tries else None
        return value

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if self.owner.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_RSET(self, server, session, envelope):
        with self.owner._lock:
            self.owner.resets += 1
        return "250 OK"

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.owner.credentials and not session.authenticated:
            return "530 5.7.0 Authentication required"
        reply = self._fault("mail", self.owner.plan.mail_from, address)
        if reply:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        plan = self.owner.plan
        delay = self._fault("sleep_at_rcpt", plan.sleep_at_rcpt, address)
        if delay:
            await asyncio.sleep(delay)
        reply = self._fault("rcpt", plan.rcpt, address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        plan = self.owner.plan
        rcpts = list(envelope.rcpt_tos)
        for rcpt in rcpts:
            reply = self._fault("data", plan.data, rcpt)
            if reply:
                return reply
        drop = any([self._fault("drop", plan.drop_after_data, r) for r in rcpts])
        delay = max([self._fault("sleep_in_data", plan.sleep_in_data, r) or 0 for r in rcpts])
        # The server has the message before any lost or late reply: that is the point.
        self.owner._received(envelope.mail_from, rcpts, envelope.original_content)
        if drop:
            server.transport.close()
            await asyncio.sleep(3600)  # cancelled when the connection is gone
        if delay:
            await asyncio.sleep(delay)
        return "250 2.0.0 OK queued"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        """Accept LOGIN/PLAIN with the owner's credentials only."""
        expected = self.owner.credentials
        if (
            isinstance(auth_data, LoginPassword)
            and expected
            and auth_data.login.decode() == expected[0]
            and auth_data.password.decode() == expected[1]
        ):
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


class _CountingController(LoopbackController):
    """The loopback controller, counting the connections the server accepts."""

    def __init__(self, owner: "SmtpTestServer", **kwargs) -> None:
        super().__init__(_FaultHandler(owner), **kwargs)
        self.owner = owner

    def factory(self):
        """A new SMTP session: one more connection."""
        smtpd = super().factory()
        with self.owner._lock:
            self.owner.connections += 1
        return smtpd


class SmtpTestServer:
    """An in-process aiosmtpd server on a free loopback port, following a FaultPlan."""

    def __init__(
        self,
        plan: FaultPlan | None = None,
        *,
        credentials: tuple[str, str] | None = None,
        tls_context: ssl.SSLContext | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        pipelining: bool = True,
    ) -> None:
        self.plan = plan or FaultPlan()
        # Offer PIPELINING (RFC 2920), as most relays do; the client then sends MAIL, RCPT
        # and DATA together.
        self.pipelining = pipelining
        self.resets = 0
        self.credentials = credentials
        self.tls_context = tls_context
        self.host = host
        self.port = port
        self.messages: list[ReceivedMessage] = []
        self.connections = 0
        self.attempts: Counter = Counter()
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._controller: LoopbackController | None = None

    def start(self) -> "SmtpTestServer":
        """Listen (again on the same port after a stop)."""
        kwargs = {}
        if self.tls_context is not None:
            kwargs["tls_context"] = self.tls_context  # offers STARTTLS
        if self.credentials:
            # Without TLS, plain AUTH is allowed (a loopback test); the handler refuses MAIL
            # before login, since auth_required=True would warn about exactly this setup.
            kwargs["authenticator"] = _FaultHandler(self).authenticate
            kwargs["auth_require_tls"] = self.tls_context is not None
        controller = _CountingController(self, hostname=self.host, port=self.port, **kwargs)
        controller.start()
        self.port = controller.port
        with self._lock:
            self.connections = 0  # start() made one connection of its own to check the server
        self._controller = controller
        return self

    def stop(self) -> None:
        """Stop listening and drop every open session."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def restart(self) -> None:
        """Stop and listen again on the same port, dropping every open session."""
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        """True while the server listens."""
        return self._controller is not None

    def __enter__(self) -> "SmtpTestServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def settings(self, **overrides) -> SmtpSettings:
        """Client settings that reach this server."""
        values = {"server": self.host, "port": self.port, "security": "none", "timeout": 5.0}
        if self.credentials:
            values["username"], values["password"] = self.credentials
        values.update(overrides)
        return SmtpSettings(**values)

    def app_config(self, **overrides) -> dict:
        """SMTP_* settings for make_test_config(), pointing the app at this server."""
        s = self.settings()
        config = {
            "SMTP_SERVER": s.server,
            "SMTP_PORT": s.port,
            "SMTP_SECURITY": s.security,
            "SMTP_USERNAME": s.username,
            "SMTP_PASSWORD": s.password,
            "SMTP_TIMEOUT": s.timeout,
        }
        config.update(overrides)
        return config

    def clear(self) -> None:
        """Forget received messages, connection and attempt counts (the plan stays)."""
        with self._lock:
            self.messages.clear()
            self.connections = 0
            self.attempts.clear()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedMessage]:
        """Block until at least `count` messages arrived; all of them."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"expected {count} messages within {timeout} s, got {len(self.messages)}"
                    )
                self._arrived.wait(left)
            return list(self.messages)

    def _received(self, mail_from: str, rcpt_tos: list[str], data: bytes) -> None:
        """Keep a message and wake whoever waits for it."""
        message = ReceivedMessage(mail_from, rcpt_tos, bytes(data), time.time())
        with self._arrived:
            self.messages.append(message)
            self._arrived.notify_all()


def received_by_address(server: SmtpTestServer) -> tuple[Counter, dict[str, set[str]]]:
    """Messages at the server by their To address (lower case), and the Message-IDs of each."""
    counts: Counter = Counter()
    ids: dict[str, set[str]] = {}
    for m in list(server.messages):
        parsed = message_from_bytes(m.data)
        to = parseaddr(parsed["To"])[1].lower()
        counts[to] += 1
        ids.setdefault(to, set()).add(parsed["Message-ID"])
    return counts, ids


def send_with_smtplib(port: int, to: str, subject: str) -> bytes:
    """Send a small message to 127.0.0.1:port with the standard library's client; its bytes."""
    data = (
        f"From: Quiz Reports <reports@quiz.example>\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject.replace(' ', '-')}@quiz.example>\r\n\r\nBody of {subject}\r\n"
    ).encode()
    with smtplib.SMTP("127.0.0.1", port, local_hostname="test", timeout=5) as smtp:
        smtp.sendmail("reports@quiz.example", [to], data)
    return data
