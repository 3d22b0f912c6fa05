"""A learner's email for a month exactly as it was or will be mailed, and a test copy of it."""

import secrets
import zlib
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.core import suppression
from webapp.core import unsubscribe
from webapp.core.clock import utcnow
from webapp.core.launch import KIND
from webapp.core.launch import message_id_for
from webapp.core.mail.mime import InvalidAddressError
from webapp.core.mail.mime import RenderedReport
from webapp.core.mail.mime import address_problem
from webapp.core.mail.mime import build_message
from webapp.core.mail.mime import mail_domain
from webapp.core.mail.mime import parse_message
from webapp.core.mail.render import Letter
from webapp.core.mail.render import letter_for
from webapp.core.mail.render import render_report
from webapp.core.mail.smtp import SmtpSession
from webapp.core.mail.smtp_errors import MailError
from webapp.core.mail.smtp_settings import SmtpSettings
from webapp.core.models import Delivery
from webapp.core.models import ReportRun
from webapp.core.models import User
from webapp.core.months import Month
from webapp.core.report.builder import build_report
from webapp.core.states import DeliveryState
from webapp.infra.settings import Settings


@dataclass
class Email:
    """One learner's email for a month, decoded for display."""

    headers: dict
    html: str
    text: str
    sent: bool  # the stored bytes of a sent delivery, not a fresh rendering
    delivery: Delivery | None
    note: str = ""
    # Set when the report was mailed but its copy was removed after this many days
    # (MESSAGE_RETENTION_DAYS): what is shown is rendered again from today's data.
    copy_removed_after_days: int | None = None
    # Why the learner is on the suppression list, if they are: runs skip them.
    suppressed: str = ""


def _delivery(session: Session, user_id: int, month: Month) -> Delivery | None:
    return session.scalar(
        select(Delivery).where(
            Delivery.user_id == user_id, Delivery.month == str(month), Delivery.kind == KIND
        )
    )


def _copy_removed(delivery: Delivery | None) -> bool:
    # Retention (core/retention.py) removes the bytes and keeps their hash.
    return (
        delivery is not None
        and delivery.state == DeliveryState.SENT
        and delivery.message is None
        and delivery.message_sha256 is not None
    )


def _letter(session: Session, settings: Settings, delivery: Delivery | None) -> Letter:
    # Rendered as the worker renders it: with the subject and intro of the run the
    # delivery is in (or was mailed by, once its copy was removed).
    run = session.get(ReportRun, delivery.run_id) if delivery is not None else None
    if run is None:
        return letter_for(settings)
    return letter_for(settings, run.subject, run.intro)


def load_email(session: Session, settings: Settings, user: User, month: Month) -> Email | None:
    """The mailed bytes of a sent report, or the report rendered as the worker renders it
    (also for a sent report whose copy retention removed, which the Email then says).

    None when the account is not a learner's.
    """
    email = _load_email(session, settings, user, month)
    entry = suppression.of_learner(session, user.id) if email is not None else None
    if entry is not None:
        email.suppressed = suppression.words_of(entry)
    return email


def _load_email(session: Session, settings: Settings, user: User, month: Month) -> Email | None:
    delivery = _delivery(session, user.id, month)
    if delivery is not None and delivery.state == DeliveryState.SENT and delivery.message:
        parsed = parse_message(zlib.decompress(delivery.message))
        return Email(parsed["headers"], parsed["html"], parsed["text"], True, delivery)
    report = build_report(session, user.id, month)
    if report is None:
        return None
    removed = _copy_removed(delivery)
    removed_after = settings.MESSAGE_RETENTION_DAYS if removed else None
    rendered = render_report(report, _letter(session, settings, delivery))
    message_id = (
        delivery.message_id
        if delivery is not None
        else message_id_for(month, user.id, settings.MAIL_FROM)
    )
    if removed:
        note = f"SHA-256 of the message as mailed: {delivery.message_sha256}."
    elif delivery is None:
        note = "The Message-ID is fixed when the report is queued."
    else:
        note = ""
    try:
        raw = build_message(
            rendered,
            from_addr=settings.MAIL_FROM,
            to_addr=user.email,
            to_name=user.display_name,
            message_id=message_id,
            date=utcnow(),
            # The learner's unsubscribe headers, as the worker adds them.
            extra_headers=unsubscribe.headers(rendered.unsubscribe_url),
        )
    except InvalidAddressError as exc:
        # In the words the dry run uses: the same check as sending (mime.address_problem).
        problem = address_problem(user.email) or str(exc)
        headers = {
            "From": settings.MAIL_FROM,
            "To": f"{user.display_name} ({problem}: this report cannot be mailed)",
            "Subject": rendered.subject,
            "Message-ID": message_id,
            "Date": None,
        }
        return Email(headers, rendered.html, rendered.text, False, delivery, note, removed_after)
    parsed = parse_message(raw)
    return Email(
        parsed["headers"], parsed["html"], parsed["text"], False, delivery, note, removed_after
    )


def send_test_copy(
    settings: Settings, email: Email, learner: User, month: Month, to_addr: str, to_name: str
) -> tuple[bool, str]:
    """Mail this exact email to an admin; the learner's ledger row is untouched.

    (sent, words for the admin).
    """
    if not to_addr or "@" not in to_addr:
        return False, "Your admin account has no email address, so no test can be sent."
    rendered = RenderedReport(
        subject=f"[Test] {email.headers.get('Subject') or ''}", html=email.html, text=email.text
    )
    domain = mail_domain(settings.MAIL_FROM)
    try:
        raw = build_message(
            rendered,
            from_addr=settings.MAIL_FROM,
            to_addr=to_addr,
            to_name=to_name,
            message_id=f"<test.{month}.{learner.id}.{secrets.token_hex(8)}@{domain}>",
            date=utcnow(),
            extra_headers={"X-Quiz-Reports-Test": f"copy of learner {learner.id}'s report"},
        )
        with SmtpSession(SmtpSettings.from_settings(settings)) as smtp:
            smtp.send(settings.MAIL_FROM, to_addr, raw)
    except InvalidAddressError as exc:
        return False, f"The test could not be addressed: {exc}."
    except MailError as exc:
        return False, f"The test was not sent: {exc.reason}."
    except OSError as exc:
        return False, f"The test was not sent: {exc.strerror or exc}."
    return True, f"A test copy of {learner.display_name}’s report was sent to {to_addr}."
