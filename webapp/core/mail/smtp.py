"""SMTP delivery over one reused connection, with every failure sorted into what to do next.

The four error classes tell the worker what to do: retry later (TransientMailError), give up on
this one learner (PermanentRecipientError), pause the whole run (RunStoppingError), or leave it to
a person because the message may already have been delivered (UnknownOutcomeError).
"""

import functools
import re
import smtplib
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from email.utils import parseaddr

from webapp.infra.settings import Settings
from webapp.infra.settings import default_smtp_security

SECURITY_MODES = ("starttls", "ssl", "none")

# Replies that mean our credentials or the server's auth policy are wrong: no learner can be
# mailed until someone fixes the settings, whatever step they come at.
_AUTH_CODES = {530, 534, 535, 538}

_REPLY_WORDS = {
    421: "the server is closing the connection",
    450: "mailbox temporarily unavailable",
    451: "the server had a local error, try again later",
    452: "the server is out of storage",
    454: "temporary authentication or TLS failure",
    455: "the server cannot take the parameters now",
    500: "command not understood",
    501: "syntax error in parameters",
    502: "command not implemented",
    503: "bad sequence of commands",
    504: "parameter not implemented",
    521: "the server does not accept mail",
    530: "authentication required",
    534: "authentication mechanism too weak",
    535: "authentication failed",
    538: "encryption required for authentication",
    550: "mailbox unavailable",
    551: "user not local",
    552: "mailbox full or too many recipients",
    553: "mailbox name not allowed",
    554: "transaction failed",
    555: "address parameters not recognised",
    556: "the domain does not accept mail",
}

_STEP_WORDS = {
    "connect": "connecting",
    "helo": "at EHLO",
    "tls": "at STARTTLS",
    "auth": "at login",
    "mail": "at MAIL FROM",
    "rcpt": "at RCPT TO",
    "data": "at DATA",
    "send": "while sending the message",
    "reply": "after the message was sent",
}


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to reach the SMTP server; repr never shows the password."""

    server: str
    port: int
    username: str = ""
    password: str = field(default="", repr=False)
    security: str = "starttls"
    timeout: float = 30.0

    def __post_init__(self) -> None:
        if self.security not in SECURITY_MODES:
            raise ValueError(
                f"SMTP_SECURITY must be one of {', '.join(SECURITY_MODES)}, not {self.security!r}"
            )
        if not self.timeout or self.timeout <= 0:
            raise ValueError("SMTP_TIMEOUT must be a positive number of seconds")

    @classmethod
    def from_settings(cls, settings: Settings) -> "SmtpSettings":
        """The SMTP_* settings of the product."""
        port = int(settings.SMTP_PORT or 25)
        return cls(
            server=settings.SMTP_SERVER or "127.0.0.1",
            port=port,
            username=settings.SMTP_USERNAME or "",
            password=settings.SMTP_PASSWORD or "",
            security=(settings.SMTP_SECURITY or default_smtp_security(port)).strip().lower(),
            timeout=float(settings.SMTP_TIMEOUT or 30.0),
        )

    @property
    def address(self) -> str:
        """host:port, as the error messages show it."""
        return f"{self.server}:{self.port}"


class MailError(Exception):
    """A delivery failed; `reason` is for people, `code` is the SMTP reply code if any."""

    def __init__(self, reason: str, code: int | None = None, step: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.step = step

    def __str__(self) -> str:
        return self.reason

    def __repr__(self) -> str:
        return f"{type(self).__name__}(reason={self.reason!r}, code={self.code!r})"


class TransientMailError(MailError):
    """Nothing was delivered and it may work later: retry on a fresh connection."""


class PermanentRecipientError(MailError):
    """The server refused this one message or recipient for good: never retry it."""


class RunStoppingError(MailError):
    """Settings or server policy block every message (auth, sender, TLS): pause the run."""


class UnknownOutcomeError(MailError):
    """The connection was lost after the whole message was sent: it may have been delivered."""


def describe_smtp_reply(code: int | None, text: str | bytes = "") -> str:
    """Words for an SMTP reply, e.g. 'mailbox unavailable (550 5.1.1 no such user)'."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = " ".join(text.split())
    if len(text) > 200:
        text = text[:197] + "..."
    if code is None or code < 0:
        return f"unreadable reply from the server ({text})" if text else "no reply from the server"
    words = _REPLY_WORDS.get(code)
    if words is None:
        words = {2: "accepted", 3: "waiting for more", 4: "temporary failure"}.get(
            code // 100, "permanent failure"
        )
    return f"{words} ({code} {text})" if text else f"{words} ({code})"


def reply_error(step: str, code: int, text: str | bytes, settings: SmtpSettings) -> MailError:
    """The error class an unwanted reply at this step calls for (RFC 5321 reply classes)."""
    reason = describe_smtp_reply(code, text)
    if code in _AUTH_CODES:
        return RunStoppingError(reason, code, step)
    if 400 <= code < 500 or (step == "rcpt" and code == 552):
        # RFC 5321 4.5.3.1.10: 552 at RCPT (too many recipients) is to be treated as temporary.
        return TransientMailError(reason, code, step)
    if not 500 <= code < 600:
        return TransientMailError(f"unexpected reply {_STEP_WORDS[step]}: {reason}", code, step)
    if step == "rcpt":
        return PermanentRecipientError(reason, code, step)
    if step in ("data", "reply"):
        return PermanentRecipientError(f"the server rejected the message: {reason}", code, step)
    if step == "mail":
        return RunStoppingError(f"the server refused the sender address: {reason}", code, step)
    if step == "tls":
        return RunStoppingError(f"STARTTLS refused by {settings.address}: {reason}", code, step)
    # connect, helo: the server will not talk to us at all.
    return RunStoppingError(f"{settings.address} refused the session: {reason}", code, step)


def network_error(exc: OSError, step: str, settings: SmtpSettings) -> MailError:
    """Words and class for a socket or TLS failure at a step before the message was sent."""
    where = settings.address
    cause = _root_cause(exc)
    if isinstance(cause, ssl.SSLCertVerificationError):
        return RunStoppingError(
            f"the TLS certificate of {settings.server} could not be verified "
            f"({cause.verify_message})",
            None,
            step,
        )
    if isinstance(cause, ssl.SSLError) and not isinstance(
        cause, ssl.SSLEOFError | ssl.SSLZeroReturnError
    ):
        return RunStoppingError(
            f"TLS with {where} failed ({cause.reason or cause}); check SMTP_SECURITY and the port",
            None,
            step,
        )
    if isinstance(cause, ConnectionRefusedError):
        return TransientMailError(f"connection refused by {where}", None, step)
    if isinstance(cause, TimeoutError):
        if step == "connect":
            return TransientMailError(
                f"timed out after {settings.timeout:g} s connecting to {where}", None, step
            )
        return TransientMailError(
            f"timed out after {settings.timeout:g} s waiting for the server ({_STEP_WORDS[step]})",
            None,
            step,
        )
    if isinstance(cause, socket.gaierror):
        return TransientMailError(
            f"could not resolve {settings.server} ({cause.strerror or cause})", None, step
        )
    if isinstance(cause, smtplib.SMTPServerDisconnected):
        return TransientMailError(f"{where} closed the connection {_STEP_WORDS[step]}", None, step)
    return TransientMailError(
        f"network error with {where} {_STEP_WORDS[step]} ({_os_words(cause)})", None, step
    )


def _root_cause(exc: BaseException) -> BaseException:
    # smtplib turns socket errors into SMTPServerDisconnected inside `except OSError`, so the
    # real reason (a timeout, a reset) is the context it was raised in.
    seen = exc
    while isinstance(seen, smtplib.SMTPServerDisconnected) and seen.__context__ is not None:
        seen = seen.__context__
    return seen


def _os_words(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _lost_reply_error(exc: OSError, settings: SmtpSettings) -> UnknownOutcomeError:
    cause = _root_cause(exc)
    if isinstance(cause, TimeoutError):
        what = f"timed out after {settings.timeout:g} s waiting for the server's reply"
    elif isinstance(cause, smtplib.SMTPServerDisconnected):
        what = "the server closed the connection without a reply"
    else:
        what = f"the connection was lost ({_os_words(cause)})"
    return UnknownOutcomeError(
        f"{what} after the whole message was sent; it may have been delivered", None, "reply"
    )


@functools.cache
def _local_hostname() -> str:
    # smtplib asks DNS for our name on every connection; once per process is enough.
    fqdn = socket.getfqdn()
    if "." in fqdn:
        return fqdn
    try:
        return f"[{socket.gethostbyname(socket.gethostname())}]"
    except OSError:
        return "[127.0.0.1]"


_EOL = re.compile(rb"\r\n|\r|\n")
_LEADING_DOT = re.compile(rb"^\.", re.MULTILINE)


def wire_data(message: bytes) -> bytes:
    """The DATA payload: CRLF line endings, dot-stuffed, ending in CRLF.CRLF."""
    data = _LEADING_DOT.sub(b"..", _EOL.sub(b"\r\n", message))
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


def _envelope_address(addr: str) -> str:
    # Accepts "Name <a@b>" (MAIL_FROM is configured that way) and returns the bare address.
    if "\r" in addr or "\n" in addr:
        return ""
    return parseaddr(addr)[1]


class SmtpSession:
    """One SMTP connection reused for many messages; not shared between threads.

    Connects on the first send, and again after any error that discarded the connection.
    """

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None
        self._used = False

    def __enter__(self) -> "SmtpSession":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.quit()
        else:
            self.close()

    @property
    def connected(self) -> bool:
        """Whether a connection is open right now (the next send reuses it)."""
        return self._smtp is not None

    def open(self) -> None:
        """Connect, upgrade to TLS and log in now, unless already connected."""
        if self._smtp is None:
            self._smtp = self._guarded(self._connect)
            self._used = False

    def quit(self) -> None:
        """Say QUIT and close; a server that is already gone is not an error here."""
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except OSError:
            pass
        finally:
            smtp.close()

    def close(self) -> None:
        """Drop the connection without a word to the server."""
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()

    def send(
        self, from_addr: str, to_addr: str, message: bytes, before_data: Callable | None = None
    ) -> tuple[int, str]:
        """Mail one complete RFC 5322 message to one recipient; the server's final reply.

        before_data is called once the server has said 354, just before the message goes
        out: the caller records that from here on the message may arrive.
        """
        if not isinstance(message, bytes | bytearray):
            raise TypeError("message must be bytes")
        sender = _envelope_address(from_addr)
        if not sender:
            raise RunStoppingError(f"the sender address {from_addr!r} is not valid", None, "mail")
        recipient = _envelope_address(to_addr)
        if not recipient:
            raise PermanentRecipientError("the recipient address is not valid", None, "rcpt")
        data = wire_data(bytes(message))
        self._reset_if_reused()
        self.open()
        try:
            return self._guarded(self._transaction, sender, recipient, data, before_data)
        except PermanentRecipientError:
            raise  # the connection is healthy; the next send starts with RSET
        except BaseException:
            self.close()
            raise

    def _reset_if_reused(self) -> None:
        if self._smtp is None or not self._used:
            return
        try:
            code, _text = self._smtp.rset()
        except OSError:
            code = -1
        if code != 250:
            # Idle timeout or 421 between messages: nothing of the next one was sent yet,
            # so a fresh connection is safe.
            self.close()

    def _guarded(self, step_fn, *args):
        # The one place errors leave this class: make sure no credential is in the words.
        try:
            return step_fn(*args)
        except MailError as exc:
            exc.reason = self._scrub(exc.reason)
            exc.args = (exc.reason,)
            raise

    def _scrub(self, text: str) -> str:
        for secret in (self.settings.password, self.settings.username):
            if secret:
                text = text.replace(secret, "***")
        return text

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        try:
            if s.security == "ssl":
                smtp = smtplib.SMTP_SSL(
                    s.server,
                    s.port,
                    local_hostname=_local_hostname(),
                    timeout=s.timeout,
                    context=ssl.create_default_context(),
                )
            else:
                smtp = smtplib.SMTP(
                    s.server, s.port, local_hostname=_local_hostname(), timeout=s.timeout
                )
        except smtplib.SMTPConnectError as exc:
            raise reply_error("connect", exc.smtp_code, exc.smtp_error, s) from exc
        except OSError as exc:
            raise network_error(exc, "connect", s) from exc
        try:
            self._hello(smtp)
            if s.username:
                self._login(smtp)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _hello(self, smtp: smtplib.SMTP) -> None:
        s = self.settings
        step = "helo"
        try:
            smtp.ehlo_or_helo_if_needed()
            if s.security == "starttls":
                step = "tls"
                if not smtp.has_extn("starttls"):
                    raise RunStoppingError(
                        f"{s.address} does not offer STARTTLS, which SMTP_SECURITY=starttls "
                        "requires",
                        None,
                        step,
                    )
                smtp.starttls(context=ssl.create_default_context())
                step = "helo"
                # RFC 3207: forget what was said in clear text and ask again.
                smtp.ehlo_or_helo_if_needed()
        except smtplib.SMTPResponseException as exc:
            raise reply_error(step, exc.smtp_code, exc.smtp_error, s) from exc
        except OSError as exc:
            raise network_error(exc, step, s) from exc

    def _login(self, smtp: smtplib.SMTP) -> None:
        s = self.settings
        if not smtp.has_extn("auth"):
            raise RunStoppingError(
                f"{s.address} does not offer AUTH, but SMTP_USERNAME is set"
                + (" (it may only offer it after STARTTLS)" if s.security == "none" else ""),
                None,
                "auth",
            )
        try:
            smtp.login(s.username, s.password)
        except smtplib.SMTPResponseException as exc:
            # `from None`: smtplib's own exception may echo what the server said about the user.
            raise reply_error("auth", exc.smtp_code, exc.smtp_error, s) from None
        except smtplib.SMTPServerDisconnected as exc:
            raise network_error(exc, "auth", s) from None
        except smtplib.SMTPException:
            raise RunStoppingError(
                f"{s.address} offers no login method this client supports "
                f"({smtp.esmtp_features.get('auth', '').strip()})",
                None,
                "auth",
            ) from None
        except OSError as exc:
            raise network_error(exc, "auth", s) from None

    def _transaction(
        self, sender: str, recipient: str, data: bytes, before_data: Callable | None = None
    ) -> tuple[int, str]:
        s = self.settings
        smtp = self._smtp
        assert smtp is not None
        self._used = True
        options = self._mail_options(smtp, sender, recipient, data)
        step = "mail"
        try:
            code, text = smtp.mail(sender, options)
            if code != 250:
                raise reply_error(step, code, text, s)
            step = "rcpt"
            code, text = smtp.rcpt(recipient)
            if code not in (250, 251):
                raise reply_error(step, code, text, s)
            step = "data"
            smtp.putcmd("data")
            code, text = smtp.getreply()
            if code != 354:
                raise reply_error(step, code, text, s)
            if before_data is not None:
                before_data()
            step = "send"
            smtp.send(data)
            # From here on the server has the whole message, final dot included.
            step = "reply"
            code, text = smtp.getreply()
        except MailError:
            raise
        except smtplib.SMTPResponseException as exc:
            if step == "reply":
                raise _lost_reply_error(exc, s) from exc
            raise reply_error(step, exc.smtp_code, exc.smtp_error, s) from exc
        except OSError as exc:
            if step == "reply":
                raise _lost_reply_error(exc, s) from exc
            raise network_error(exc, step, s) from exc
        if 200 <= code < 300:
            return code, text.decode("utf-8", "replace")
        if code < 0:
            raise UnknownOutcomeError(
                f"{describe_smtp_reply(code, text)} after the whole message was sent; "
                "it may have been delivered",
                None,
                step,
            )
        raise reply_error(step, code, text, s)

    def _mail_options(
        self, smtp: smtplib.SMTP, sender: str, recipient: str, data: bytes
    ) -> list[str]:
        options = []
        if not data.isascii() and smtp.has_extn("8bitmime"):
            options.append("BODY=8BITMIME")
        if not (sender.isascii() and recipient.isascii()):
            if not smtp.has_extn("smtputf8"):
                if not sender.isascii():
                    raise RunStoppingError(
                        "the sender address has non-ASCII characters and the server does not "
                        "support SMTPUTF8",
                        None,
                        "mail",
                    )
                raise PermanentRecipientError(
                    "the recipient address has non-ASCII characters and the server does not "
                    "support SMTPUTF8",
                    None,
                    "rcpt",
                )
            options.append("SMTPUTF8")
        return options


def check_connection(settings: SmtpSettings) -> str:
    """Connect, upgrade, log in and quit; words for the admin, or a MailError."""
    with SmtpSession(settings) as session:
        session.open()
    parts = [f"connected to {settings.address}"]
    if settings.security == "ssl":
        parts.append("over TLS")
    elif settings.security == "starttls":
        parts.append("upgraded with STARTTLS")
    if settings.username:
        parts.append("logged in")
    return ", ".join(parts)
