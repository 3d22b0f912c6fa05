"""SMTP delivery over one reused connection; every failure leaves as a classified MailError
(webapp/core/mail/smtp_errors.py)."""

import functools
import re
import smtplib
import socket
import ssl
from collections.abc import Callable
from email.utils import parseaddr

from webapp.core.mail.smtp_errors import MailError
from webapp.core.mail.smtp_errors import PermanentRecipientError
from webapp.core.mail.smtp_errors import RunStoppingError
from webapp.core.mail.smtp_errors import UnknownOutcomeError
from webapp.core.mail.smtp_errors import describe_smtp_reply
from webapp.core.mail.smtp_errors import lost_reply_error
from webapp.core.mail.smtp_errors import network_error
from webapp.core.mail.smtp_errors import reply_error
from webapp.core.mail.smtp_settings import SmtpSettings


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
                raise lost_reply_error(exc, s) from exc
            raise reply_error(step, exc.smtp_code, exc.smtp_error, s) from exc
        except OSError as exc:
            if step == "reply":
                raise lost_reply_error(exc, s) from exc
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
