"""Opening an SMTP connection: connect, EHLO, STARTTLS and AUTH as the settings say, with
every failure on the way sorted into a MailError."""

import functools
import smtplib
import socket
import ssl

from webapp.core.mail.smtp_errors import RunStoppingError
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


def connect(s: SmtpSettings) -> smtplib.SMTP:
    """A connection to the server, greeted, upgraded to TLS and logged in as the settings say."""
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
        _hello(smtp, s)
        if s.username:
            _login(smtp, s)
    except BaseException:
        smtp.close()
        raise
    return smtp


def _hello(smtp: smtplib.SMTP, s: SmtpSettings) -> None:
    step = "helo"
    try:
        smtp.ehlo_or_helo_if_needed()
        if s.security == "starttls":
            step = "tls"
            if not smtp.has_extn("starttls"):
                raise RunStoppingError(
                    f"{s.address} does not offer STARTTLS, which SMTP_SECURITY=starttls requires",
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


def _login(smtp: smtplib.SMTP, s: SmtpSettings) -> None:
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
