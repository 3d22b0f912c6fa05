"""Preview: the exact email of a learner's month, and a test copy mailed to the admin."""

import dataclasses
import secrets
import zlib
from email.utils import parseaddr

from flask import Blueprint
from flask import abort
from flask import current_app
from flask import flash
from flask import make_response
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_login import current_user
from sqlalchemy import select
from wtforms import ValidationError

from webapp.core import runs
from webapp.core.clock import utcnow
from webapp.core.mail.render import InvalidAddressError
from webapp.core.mail.render import RenderedReport
from webapp.core.mail.render import build_message
from webapp.core.mail.render import parse_message
from webapp.core.mail.render import render_report
from webapp.core.mail.smtp import MailError
from webapp.core.mail.smtp import SmtpSession
from webapp.core.mail.smtp import SmtpSettings
from webapp.core.models import Delivery
from webapp.core.months import Month
from webapp.core.months import MonthError
from webapp.core.report.builder import build_report
from webapp.infra.database import db_session
from webapp.web.forms import ActionForm
from webapp.web.forms import parse_form_month
from webapp.web.learners import learner_or_404
from webapp.web.pages import EMAIL_CSP
from webapp.web.pages import back_to
from webapp.web.pages import is_htmx
from webapp.web.pages import require_admin

bp = Blueprint("preview", __name__, url_prefix="/learners/<int:user_id>/preview")
bp.before_request(require_admin)


@dataclasses.dataclass
class Email:
    """One learner's email for a month, decoded for display."""

    headers: dict
    html: str
    text: str
    sent: bool  # the stored bytes of a sent delivery, not a fresh rendering
    delivery: Delivery | None
    note: str = ""


def _month(value: str) -> Month:
    try:
        return Month.parse(value)
    except MonthError as exc:
        abort(404, str(exc))


def _delivery(user_id: int, month: Month) -> Delivery | None:
    return db_session.scalar(
        select(Delivery).where(
            Delivery.user_id == user_id, Delivery.month == str(month), Delivery.kind == runs.KIND
        )
    )


def _rendered(user, month: Month) -> RenderedReport:
    report = build_report(db_session, user.id, month)
    if report is None:
        abort(404, f"There is no learner with id {user.id}.")
    return render_report(report)


def load_email(user, month: Month) -> Email:
    """The mailed bytes of a sent report, or the report rendered as the worker renders it."""
    delivery = _delivery(user.id, month)
    if delivery is not None and delivery.state == "sent" and delivery.message:
        parsed = parse_message(zlib.decompress(delivery.message))
        return Email(parsed["headers"], parsed["html"], parsed["text"], True, delivery)
    rendered = _rendered(user, month)
    config = current_app.config
    message_id = (
        delivery.message_id
        if delivery is not None
        else runs.message_id_for(month, user.id, config["MAIL_FROM"])
    )
    note = "" if delivery is not None else "The Message-ID is fixed when the report is queued."
    try:
        raw = build_message(
            rendered,
            from_addr=config["MAIL_FROM"],
            to_addr=user.email,
            to_name=user.display_name,
            message_id=message_id,
            date=utcnow(),
        )
    except InvalidAddressError:
        headers = {
            "From": config["MAIL_FROM"],
            "To": f"{user.display_name} (no email address on file: this report cannot be mailed)",
            "Subject": rendered.subject,
            "Message-ID": message_id,
            "Date": None,
        }
        return Email(headers, rendered.html, rendered.text, False, delivery, note)
    parsed = parse_message(raw)
    return Email(parsed["headers"], parsed["html"], parsed["text"], False, delivery, note)


@bp.get("")
def pick(user_id: int):
    """The month chosen in the learner page's form: go to that month's preview."""
    learner_or_404(user_id)
    try:
        month = parse_form_month(request.args.get("month"))
    except ValidationError as exc:
        abort(400, str(exc))
    return redirect(url_for("preview.show", user_id=user_id, month=str(month)))


@bp.get("/<month>")
def show(user_id: int, month: str):
    """The preview page: headers, the HTML in a sandboxed frame, and the plain text."""
    user = learner_or_404(user_id)
    the_month = _month(month)
    view = "text" if request.args.get("view") == "text" else "html"
    email = load_email(user, the_month)
    return render_template(
        "preview/show.html",
        learner=user,
        month=the_month,
        email=email,
        view=view,
        form=ActionForm(formdata=None),
    )


@bp.get("/<month>/email.html")
def email_html(user_id: int, month: str):
    """The email's HTML alone, for the sandboxed iframe: no scripts, nothing loaded."""
    user = learner_or_404(user_id)
    email = load_email(user, _month(month))
    response = make_response(email.html)
    response.headers["Content-Security-Policy"] = EMAIL_CSP
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/<month>/send-test")
def send_test(user_id: int, month: str):
    """Mail this exact report to the signed-in admin; the learner's ledger row is untouched."""
    user = learner_or_404(user_id)
    the_month = _month(month)
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400, "The form could not be read; reload the page and try again.")
    here = url_for("preview.show", user_id=user.id, month=str(the_month))
    ok, words = _mail_test(user, the_month)
    if is_htmx():
        return render_template("preview/_test_result.html", ok=ok, words=words)
    flash(words, "success" if ok else "error")
    return back_to(here)


def _mail_test(user, month: Month) -> tuple[bool, str]:
    to_addr = current_user.email
    if not to_addr or "@" not in to_addr:
        return False, "Your admin account has no email address, so no test can be sent."
    email = load_email(user, month)
    config = current_app.config
    rendered = RenderedReport(
        subject=f"[Test] {email.headers.get('Subject') or ''}", html=email.html, text=email.text
    )
    domain = parseaddr(config["MAIL_FROM"])[1].rpartition("@")[2] or "quiz-reports.local"
    try:
        raw = build_message(
            rendered,
            from_addr=config["MAIL_FROM"],
            to_addr=to_addr,
            to_name=current_user.display_name,
            message_id=f"<test.{month}.{user.id}.{secrets.token_hex(8)}@{domain}>",
            date=utcnow(),
            extra_headers={"X-Quiz-Reports-Test": f"copy of learner {user.id}'s report"},
        )
        with SmtpSession(SmtpSettings.from_config(config)) as smtp:
            smtp.send(config["MAIL_FROM"], to_addr, raw)
    except InvalidAddressError as exc:
        return False, f"The test could not be addressed: {exc}."
    except MailError as exc:
        return False, f"The test was not sent: {exc.reason}."
    except OSError as exc:
        return False, f"The test was not sent: {exc.strerror or exc}."
    return True, f"A test copy of {user.display_name}’s report was sent to {to_addr}."
