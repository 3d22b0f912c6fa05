"""Sign in and out of the admin pages (Flask-Login); only staff accounts get in.

Every refusal takes the same path and gets the same words (core/accounts.authenticate); the
throttle (web/throttle.py) counts each try before its password is checked; each sign-in is a
session row that signing out ends (core/sessions.py); the audit trail records it all.
"""

import re
import time

from flask import Blueprint
from flask import flash
from flask import make_response
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from flask_login import current_user
from flask_login import login_user
from flask_login import logout_user
from flask_wtf.csrf import CSRFError

from webapp.core import accounts
from webapp.core import sessions
from webapp.core.audit import Actor
from webapp.core.states import Role
from webapp.web import throttle
from webapp.web.access import SESSION_MAX_SECONDS
from webapp.web.access import SignedIn
from webapp.web.access import safe_next
from webapp.web.actor import current_actor
from webapp.web.errors import error_page
from webapp.web.extensions import login_manager
from webapp.web.forms import ActionForm
from webapp.web.forms import LoginForm
from webapp.web.services import db_session

bp = Blueprint("auth", __name__)

# The one answer to every refused sign-in (unknown email, learner, wrong password, an account
# whose stored hash cannot be read): which accounts exist is nobody's business.
BAD_CREDENTIALS = (
    "That email and password do not match a staff account. Check both and try again; "
    "learners receive their reports by email and cannot sign in here."
)
# The session's key of its token (webapp/core/sessions.py).
SESSION_TOKEN = "session_token"
_USER_ID = re.compile(r"[0-9]{1,18}")


@login_manager.user_loader
def load_user(user_id: str) -> SignedIn | None:
    """The signed-in account of a session, while the session stands (ended by signing out,
    signing out everywhere, a password change or demotion; expired; or its account changed)."""
    if not isinstance(user_id, str) or not _USER_ID.fullmatch(user_id):
        return None
    user = sessions.user_for(db_session, int(user_id), session.get(SESSION_TOKEN))
    return SignedIn(user) if user is not None else None


def remember(token: str) -> None:
    """Keep a new session's token in this browser's cookie, and when the session began."""
    session[SESSION_TOKEN] = token
    session["signed_in_at"] = int(time.time())


def failed_actor(email: str) -> Actor:
    """Who tried a sign-in that failed: the email as typed, and the address it came from."""
    return Actor((email or "")[:254], None, request.remote_addr or "")


def _page(form: LoginForm, error: str | None = None, status: int = 200, retry_after: int = 0):
    form.password.data = ""
    response = make_response(render_template("auth/login.html", form=form, error=error), status)
    if retry_after:
        response.headers["Retry-After"] = str(retry_after)
    return response


@bp.route("/login", methods=["GET", "POST"])
def login():
    """The sign-in page; after signing in, go to `next` when it is a path on this site."""
    form = LoginForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next")) or ""
        if current_user.is_authenticated and current_user.can(Role.VIEWER):
            return redirect(form.next.data or url_for("dashboard.overview"))
        return _page(form)
    if not form.validate_on_submit():
        return _page(form, status=422)
    email = form.email.data
    with throttle.guarded(email) as refusal:
        if refusal:
            return _page(form, refusal.message, refusal.status, refusal.retry_after)
        check = accounts.authenticate(db_session, email, form.password.data)
    if check.user is None:
        sessions.refused(db_session, failed_actor(email), check.reason)
        return _page(form, BAD_CREDENTIALS)
    throttle.give_back(email)
    # A fresh session: nothing from before sign-in survives (session fixation).
    session.clear()
    login_user(SignedIn(check.user))
    remember(sessions.sign_in(db_session, check.user, current_actor(), SESSION_MAX_SECONDS))
    return redirect(safe_next(form.next.data) or url_for("dashboard.overview"), code=303)


@bp.post("/logout")
def logout():
    """Sign out (a POST with CSRF, so another site cannot sign an admin out): this browser's
    session ends for good, so a copy of its cookie is worth nothing either."""
    form = ActionForm()
    if form.validate_on_submit():
        if current_user.is_authenticated:
            sessions.sign_out(
                db_session, current_user.user, session.get(SESSION_TOKEN), current_actor()
            )
        logout_user()
        session.clear()
        flash("You have signed out.", "info")
    return redirect(url_for("auth.login"), code=303)


@bp.post("/logout/everywhere")
def logout_everywhere():
    """End every session of the signed-in account, in every browser, this one too."""
    form = ActionForm()
    if form.validate_on_submit() and current_user.is_authenticated:
        ended = sessions.sign_out_everywhere(db_session, current_user.user, current_actor())
        logout_user()
        session.clear()
        flash(f"You have signed out in every browser ({sessions.ended_words(ended)}).", "info")
    return redirect(url_for("auth.login"), code=303)


@bp.app_errorhandler(CSRFError)
def csrf_failed(exc: CSRFError):
    """A form without a valid CSRF token: a 400 page in words."""
    message = (
        "This form could not be accepted: its security token is missing or has expired. "
        "Go back, reload the page and try again."
    )
    return error_page(400, "Form expired", message)


def init_app(app) -> None:
    """Configure Flask-Login for the admin pages."""
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"
    throttle.init_app(app)
