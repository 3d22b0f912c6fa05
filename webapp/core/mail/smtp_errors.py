"""SMTP failures sorted into what to do next, with their reasons in words.

The four error classes tell the worker what to do: retry later (TransientMailError), give up on
this one learner (PermanentRecipientError), pause the whole run (RunStoppingError), or leave it to
a person because the message may already have been delivered (UnknownOutcomeError).
"""

import re
import smtplib
import socket
import ssl

from webapp.core.mail.smtp_settings import SmtpSettings

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

# RFC 3463 enhanced status codes that say the mailbox does not exist: 5.1.1 bad destination
# mailbox, 5.1.10 the recipient's domain accepts no mail (null MX, RFC 7505).
# It opens the reply's text (RFC 2034), so an address such as 10.4.2.5 later on is not one.
_ENHANCED = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\b")
_MAILBOX_GONE_CODES = {"5.1.1", "5.1.10"}
# What servers say instead, or besides, when they give no enhanced code or a generic one.
_MAILBOX_GONE_WORDS = re.compile(
    r"user unknown|unknown user|no such (?:user|mailbox|recipient|address)"
    r"|(?:recipient|mailbox|address) unknown|unknown (?:recipient|mailbox)"
    r"|mailbox unavailable|mailbox not found|does not exist|doesn't exist"
    r"|invalid (?:recipient|mailbox)",
    re.IGNORECASE,
)

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


class MailError(Exception):
    """A delivery failed; `reason` is for people, `code` is the SMTP reply code if any."""

    def __init__(
        self, reason: str, code: int | None = None, step: str = "", dropped: bool = False
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.step = step
        # The connection was found closed or reset (not slow, not refused): it had died.
        self.dropped = dropped

    def __str__(self) -> str:
        return self.reason

    def __repr__(self) -> str:
        return f"{type(self).__name__}(reason={self.reason!r}, code={self.code!r})"


class TransientMailError(MailError):
    """Nothing was delivered and it may work later: retry on a fresh connection."""


class PermanentRecipientError(MailError):
    """The server refused this one message or recipient for good: never retry it."""


class MailboxUnknownError(PermanentRecipientError):
    """The server says this mailbox does not exist (a hard bounce): the learner is put on the
    suppression list at once, so no later run tries the address again."""


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
        if mailbox_unknown(text):
            return MailboxUnknownError(reason, code, step)
        return PermanentRecipientError(reason, code, step)
    if step in ("data", "reply"):
        return PermanentRecipientError(f"the server rejected the message: {reason}", code, step)
    if step == "mail":
        return RunStoppingError(f"the server refused the sender address: {reason}", code, step)
    if step == "tls":
        return RunStoppingError(f"STARTTLS refused by {settings.address}: {reason}", code, step)
    # connect, helo: the server will not talk to us at all.
    return RunStoppingError(f"{settings.address} refused the session: {reason}", code, step)


def mailbox_unknown(text: str | bytes) -> bool:
    """Whether a permanent refusal says the mailbox does not exist.

    An enhanced status code decides when it is a specific one: 5.1.1 and 5.1.10 do, and a
    5.7.1 "mailbox unavailable" is a policy refusal, not a missing mailbox. Without one (or
    with the generic x.0.0) the words do: "user unknown", "no such user", "does not exist"...
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    enhanced = _ENHANCED.match(text)
    if enhanced is not None:
        code = ".".join(enhanced.groups())
        if code in _MAILBOX_GONE_CODES:
            return True
        if enhanced.group(2) != "0" or enhanced.group(3) != "0":
            return False
    return _MAILBOX_GONE_WORDS.search(text) is not None


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
        words = f"{where} closed the connection {_STEP_WORDS[step]}"
        return TransientMailError(words, None, step, dropped=True)
    if isinstance(cause, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
        words = f"{where} dropped the connection {_STEP_WORDS[step]} ({_os_words(cause)})"
        return TransientMailError(words, None, step, dropped=True)
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


def lost_reply_error(exc: OSError, settings: SmtpSettings) -> UnknownOutcomeError:
    """The reply to the end of the data never came: the message may have been delivered."""
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
