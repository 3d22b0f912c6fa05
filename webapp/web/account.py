"""The signed-in account's own page: change the password, sign out in every browser."""

from flask import Blueprint
from flask import flash
from flask import make_response
from flask import redirect
from flask import render_template
from flask import url_for
from flask_login import current_user

from webapp.core import accounts
from webapp.core import sessions
from webapp.core.states import Role
from webapp.web import throttle
from webapp.web.access import SESSION_MAX_SECONDS
from webapp.web.access import require_role
from webapp.web.actor import current_actor
from webapp.web.auth import remember
from webapp.web.forms import ChangePasswordForm
from webapp.web.services import db_session

bp = Blueprint("account", __name__, url_prefix="/account")
# Every staff account, a viewer too, may change its own password and end its own sessions.
bp.before_request(require_role(Role.VIEWER))

WRONG_CURRENT = "That is not your current password."


def _page(form: ChangePasswordForm | None = None, status: int = 200, refusal=None):
    if form is not None:
        # Passwords are never sent back to the browser.
        form.current.data = form.new.data = form.confirm.data = ""
    context = {
        "form": form or ChangePasswordForm(formdata=None),
        "session_hours": SESSION_MAX_SECONDS // 3600,
        "signed_in": sessions.active_count(db_session, current_user.user),
        "error": refusal.message if refusal else None,
    }
    response = make_response(render_template("account/index.html", **context), status)
    if refusal:
        response.headers["Retry-After"] = str(refusal.retry_after)
    return response


@bp.get("")
def index():
    """The account: who is signed in, where, and the forms to change that."""
    return _page()


@bp.post("/password")
def change_password():
    """A new password: every other session of the account ends; this browser stays in."""
    form = ChangePasswordForm()
    if not form.validate_on_submit():
        return _page(form, 422)
    user = current_user.user
    # The current password is a password check like a sign-in's: the same throttle, so a
    # stolen session cannot be used to guess it.
    with throttle.guarded(user.email or user.username) as refusal:
        if refusal:
            return _page(form, refusal.status, refusal)
        matches = accounts.password_matches(
            user.password_hash or accounts.DUMMY_HASH, form.current.data
        )
    if not matches:
        sessions.refused(
            db_session, current_actor(), "wrong current password, changing the password"
        )
        form.current.errors = [WRONG_CURRENT]
        return _page(form, 422)
    throttle.give_back(user.email or user.username)
    remember(
        accounts.change_password(
            db_session, user, form.new.data, current_actor(), SESSION_MAX_SECONDS
        )
    )
    flash("Password changed. Every other browser signed in as you is signed out.", "success")
    return redirect(url_for("account.index"), code=303)
