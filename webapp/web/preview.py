"""Preview: the exact email of a learner's month, and a test copy mailed to the operator."""

from flask import Blueprint
from flask import abort
from flask import flash
from flask import make_response
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_login import current_user
from wtforms import ValidationError

from webapp.core.audit import AuditAction
from webapp.core.months import Month
from webapp.core.months import MonthError
from webapp.core.preview import Email
from webapp.core.preview import load_email
from webapp.core.preview import send_test_copy
from webapp.web.access import back_to
from webapp.web.access import require_staff
from webapp.web.errors import found_or_404
from webapp.web.forms import ActionForm
from webapp.web.forms import parse_form_month
from webapp.web.htmx import is_htmx
from webapp.web.learners import learner_or_404
from webapp.web.security import email_frame
from webapp.web.services import audit_only
from webapp.web.services import db_session
from webapp.web.services import settings

bp = Blueprint("preview", __name__, url_prefix="/learners/<int:user_id>/preview")
bp.before_request(require_staff)


def _month(value: str) -> Month:
    try:
        return Month.parse(value)
    except MonthError as exc:
        abort(404, str(exc))


def _email(user_id: int, month: Month) -> Email:
    email = load_email(db_session, settings(), learner_or_404(user_id), month)
    return found_or_404(email, f"There is no learner with id {user_id}.")


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
    the_month = _month(month)
    view = "text" if request.args.get("view") == "text" else "html"
    email = _email(user_id, the_month)
    return render_template(
        "preview/show.html",
        learner=learner_or_404(user_id),
        month=the_month,
        email=email,
        view=view,
        form=ActionForm(formdata=None),
    )


@bp.get("/<month>/email.html")
def email_html(user_id: int, month: str):
    """The email's HTML alone, for the sandboxed iframe: no scripts, nothing loaded."""
    return email_frame(make_response(_email(user_id, _month(month)).html))


@bp.post("/<month>/send-test")
def send_test(user_id: int, month: str):
    """Mail this exact report to the signed-in operator; the learner's ledger row is untouched
    (the audit trail records the test)."""
    user = learner_or_404(user_id)
    the_month = _month(month)
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400, "The form could not be read; reload the page and try again.")
    here = url_for("preview.show", user_id=user.id, month=str(the_month))
    email = _email(user.id, the_month)
    ok, words = send_test_copy(
        settings(), email, user, the_month, current_user.email, current_user.display_name
    )
    outcome = "sent" if ok else f"not sent: {words}"
    detail = f"{the_month.label}, to {current_user.email}: {outcome}"
    audit_only(AuditAction.TEST_SENT, f"{user.display_name} <{user.email}>", detail)
    if is_htmx():
        return render_template("preview/_test_result.html", ok=ok, words=words)
    flash(words, "success" if ok else "error")
    return back_to(here)
