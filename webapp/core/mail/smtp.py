"""SMTP delivery over one reused connection; every failure leaves as a classified MailError
(webapp/core/mail/smtp_errors.py).

Round trips are what a message costs against a relay across a network, so a transaction
takes as few as the server allows: MAIL, RCPT and DATA go out together where the server
offers PIPELINING (RFC 2920), and RSET is sent only after a transaction that failed.
"""

import functools
import re
import smtplib
from collections.abc import Callable
from email.utils import parseaddr

from webapp.core.mail.smtp_connect import connect
from webapp.core.mail.smtp_errors import MailError
from webapp.core.mail.smtp_errors import PermanentRecipientError
from webapp.core.mail.smtp_errors import RunStoppingError
from webapp.core.mail.smtp_errors import TransientMailError
from webapp.core.mail.smtp_errors import UnknownOutcomeError
from webapp.core.mail.smtp_errors import describe_smtp_reply
from webapp.core.mail.smtp_errors import lost_reply_error
from webapp.core.mail.smtp_errors import network_error
from webapp.core.mail.smtp_errors import reply_error
from webapp.core.mail.smtp_settings import SmtpSettings

_EOL = re.compile(rb"\r\n|\r|\n")
_LEADING_DOT = re.compile(rb"^\.", re.MULTILINE)


def _canonical(message: bytes) -> bool:
    # Every line ends in CRLF and none starts with a dot: what build_message makes. Counting
    # in C is some twenty times cheaper than rewriting with the regular expressions below.
    crlf = message.count(b"\r\n")
    return (
        message.count(b"\n") == crlf
        and message.count(b"\r") == crlf
        and b"\n." not in message
        and not message.startswith(b".")
    )


def is_canonical(message: bytes) -> bool:
    """True when every line ends in CRLF and none starts with a dot (mime.build_message's)."""
    return _canonical(message)


def wire_data(message: bytes, canonical: bool = False) -> bytes:
    """The DATA payload: CRLF line endings, dot-stuffed, ending in CRLF.CRLF.

    canonical: the caller knows the message is canonical already, so it is not checked.
    """
    canonical = canonical or _canonical(message)
    data = message if canonical else _LEADING_DOT.sub(b"..", _EOL.sub(b"\r\n", message))
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


def _gone_before_data(exc: TransientMailError) -> bool:
    # The reused connection had died before the server took anything of this message: found
    # closed or reset, or closed with a 421 at its first command (an idle timeout). A slow
    # server, or a 421 later in the transaction, is retried later with backoff instead.
    if exc.step not in ("mail", "rcpt", "data"):
        return False
    return exc.dropped or (exc.code == 421 and exc.step == "mail")


@functools.lru_cache(maxsize=64)
def _envelope_address(addr: str) -> str:
    # Accepts "Name <a@b>" (MAIL_FROM is configured that way) and returns the bare address.
    # Cached: the sender is the same for every message.
    if "\r" in addr or "\n" in addr:
        return ""
    return parseaddr(addr)[1]


def _recipient(addr: str) -> str:
    # A learner's address is already bare: parsing it would only cost time.
    if "<" in addr or " " in addr or "\r" in addr or "\n" in addr:
        return _envelope_address(addr)
    return addr


class SmtpSession:
    """One SMTP connection reused for many messages; not shared between threads.

    Connects on the first send, and again after any error that discarded the connection.
    """

    def __init__(
        self, settings: SmtpSettings, opener: Callable[[SmtpSettings], smtplib.SMTP] = connect
    ) -> None:
        self.settings = settings
        self._opener = opener  # how a connection is opened (the pool passes its own)
        self._smtp: smtplib.SMTP | None = None
        self._used = False
        # False after a transaction that failed part-way: the next one starts with RSET.
        self._clean = True
        self._step = "mail"  # how far the transaction under way has come

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
            self._smtp = self._guarded(self._opener, self.settings)
            self._used = False
            self._clean = True

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
        self,
        from_addr: str,
        to_addr: str,
        message: bytes,
        before_data: Callable | None = None,
        canonical: bool = False,
    ) -> tuple[int, str]:
        """Mail one complete RFC 5322 message to one recipient; the server's final reply.

        before_data is called once the server has said 354, just before the message goes
        out: the caller records that from here on the message may arrive. canonical: the
        message comes from mime.build_message, whose lines are all CRLF and none starts
        with a dot, so it goes out as it is.
        """
        if not isinstance(message, bytes | bytearray):
            raise TypeError("message must be bytes")
        sender = _envelope_address(from_addr)
        if not sender:
            raise RunStoppingError(f"the sender address {from_addr!r} is not valid", None, "mail")
        recipient = _recipient(to_addr)
        if not recipient:
            raise PermanentRecipientError("the recipient address is not valid", None, "rcpt")
        data = wire_data(bytes(message), canonical)
        self._reset_if_dirty()
        self.open()
        reused = self._used
        try:
            return self._guarded(self._transaction, sender, recipient, data, before_data)
        except PermanentRecipientError:
            raise  # the connection is healthy; the next send starts with RSET
        except TransientMailError as exc:
            self.close()
            if not (reused and _gone_before_data(exc)):
                raise
        except BaseException:
            self.close()
            raise
        # A reused connection the server had dropped (an idle timeout, a 421 between
        # messages): nothing of this message was sent, so a fresh connection is safe.
        self.open()
        try:
            return self._guarded(self._transaction, sender, recipient, data, before_data)
        except PermanentRecipientError:
            raise
        except BaseException:
            self.close()
            raise

    def _reset_if_dirty(self) -> None:
        if self._smtp is None or self._clean:
            return
        try:
            code, _text = self._smtp.rset()
        except OSError:
            code = -1
        if code != 250:
            # Nothing of the next message was sent yet, so a fresh connection is safe.
            self.close()
        self._clean = True

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

    def _transaction(
        self, sender: str, recipient: str, data: bytes, before_data: Callable | None = None
    ) -> tuple[int, str]:
        s = self.settings
        smtp = self._smtp
        assert smtp is not None
        self._used = True
        self._clean = False
        options = self._mail_options(smtp, sender, recipient, data)
        self._step = "mail"
        try:
            if smtp.has_extn("pipelining"):
                self._envelope_pipelined(smtp, sender, recipient, options)
            else:
                self._envelope(smtp, sender, recipient, options)
            if before_data is not None:
                before_data()
            self._step = "send"
            smtp.send(data)
            # From here on the server has the whole message, final dot included.
            self._step = "reply"
            code, text = smtp.getreply()
        except MailError:
            raise
        except smtplib.SMTPResponseException as exc:
            if self._step == "reply":
                raise lost_reply_error(exc, s) from exc
            raise reply_error(self._step, exc.smtp_code, exc.smtp_error, s) from exc
        except OSError as exc:
            if self._step == "reply":
                raise lost_reply_error(exc, s) from exc
            raise network_error(exc, self._step, s) from exc
        if 200 <= code < 300:
            self._clean = True
            return code, text.decode("utf-8", "replace")
        if code < 0:
            raise UnknownOutcomeError(
                f"{describe_smtp_reply(code, text)} after the whole message was sent; "
                "it may have been delivered",
                None,
                self._step,
            )
        raise reply_error(self._step, code, text, s)

    def _envelope(self, smtp: smtplib.SMTP, sender, recipient, options) -> None:
        """MAIL, RCPT and DATA one at a time: three round trips."""
        s = self.settings
        code, text = smtp.mail(sender, options)
        if code != 250:
            raise reply_error("mail", code, text, s)
        self._step = "rcpt"
        code, text = smtp.rcpt(recipient)
        if code not in (250, 251):
            raise reply_error("rcpt", code, text, s)
        self._step = "data"
        smtp.putcmd("data")
        code, text = smtp.getreply()
        if code != 354:
            raise reply_error("data", code, text, s)

    def _envelope_pipelined(self, smtp: smtplib.SMTP, sender, recipient, options) -> None:
        """MAIL, RCPT and DATA in one write, their three replies read after: one round trip.

        The replies are judged in order; every one of them is read, so the connection stays
        in step with the server whatever it refused.
        """
        s = self.settings
        extra = "".join(f" {option}" for option in options)
        commands = (
            f"MAIL FROM:{smtplib.quoteaddr(sender)}{extra}\r\n"
            f"RCPT TO:{smtplib.quoteaddr(recipient)}\r\nDATA\r\n"
        )
        smtp.send(commands.encode("utf-8" if "SMTPUTF8" in options else "ascii"))
        mail = self._pipelined_reply(smtp, "mail")
        rcpt = self._pipelined_reply(smtp, "rcpt")
        data = self._pipelined_reply(smtp, "data")
        if data[0] == 354 and (mail[0] != 250 or rcpt[0] not in (250, 251)):
            # RFC 2920: DATA accepted although the envelope was not. An empty body ends the
            # transaction, which the server then refuses for want of a recipient.
            smtp.send(b".\r\n")
            smtp.getreply()
        if mail[0] != 250:
            raise reply_error("mail", *mail, s)
        if rcpt[0] not in (250, 251):
            raise reply_error("rcpt", *rcpt, s)
        if data[0] != 354:
            raise reply_error("data", *data, s)

    def _pipelined_reply(self, smtp: smtplib.SMTP, step: str) -> tuple[int, bytes]:
        """The next reply; a 421 means the server is closing, so the rest will not come."""
        self._step = step
        code, text = smtp.getreply()
        if code == 421:
            raise reply_error(step, code, text, self.settings)
        return code, text

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
