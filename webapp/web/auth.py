"""Sign in and out of the dashboard (Flask-Login); only enabled staff accounts get in."""

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
from webapp.core import staff
from webapp.core.models import User
from webapp.core.states import Role
from webapp.web import throttle
from webapp.web.access import SignedIn
from webapp.web.access import safe_next
from webapp.web.errors import error_page
from webapp.web.extensions import login_manager
from webapp.web.forms import ActionForm
from webapp.web.forms import LoginForm
from webapp.web.services import db_session

bp = Blueprint("auth", __name__)

BAD_CREDENTIALS = "That email and password do not match an account. Check both and try again."
NOT_ADMIN = (
    "This is a learner account. Only staff accounts (viewers, operators and admins) can sign "
    "in to Quiz Reports; learners receive their reports by email."
)


@login_manager.user_loader
def load_user(user_id: str) -> SignedIn | None:
    """The signed-in account of a session, by id."""
    if not user_id.isdigit():
        return None
    user = db_session.get(User, int(user_id))
    return SignedIn(user) if user is not None else None


@bp.route("/login", methods=["GET", "POST"])
def login():
    """The sign-in page; after signing in, go to `next` when it is a path on this site."""
    form = LoginForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next")) or ""
        if current_user.is_authenticated and current_user.can(Role.VIEWER):
            return redirect(form.next.data or url_for("dashboard.overview"))
    error, status, wait = None, 200, 0
    if form.validate_on_submit():
        wait = throttle.wait_before_next_try(form.email.data)
        user = None if wait else accounts.find_by_email(db_session, form.email.data)
        if wait:
            minutes = max(round(wait / 60), 1)
            error = f"Too many sign-in attempts. Wait about {minutes} minute(s), then try again."
            status = 429
        elif not accounts.check_password(user, form.password.data):
            error = BAD_CREDENTIALS
        elif user.staff_role is None:
            error, status = NOT_ADMIN, 403
        elif not staff.standing(db_session, user).active:
            # A disabled account gets the answer a wrong password gets: nothing tells whoever
            # tries that the password was right.
            error = BAD_CREDENTIALS
        else:
            throttle.forget_failures(form.email.data)
            # A fresh session: nothing from before sign-in survives (session fixation).
            session.clear()
            login_user(SignedIn(user))
            # To the fraction of a second: a session revoked in the same second as this
            # sign-in, but before it, must stay revoked (staff.session_revoked).
            session["signed_in_at"] = time.time()
            return redirect(safe_next(form.next.data) or url_for("dashboard.overview"), code=303)
        if error == BAD_CREDENTIALS:
            throttle.note_failure(form.email.data)
    form.password.data = ""
    response = make_response(render_template("auth/login.html", form=form, error=error), status)
    if wait:
        response.headers["Retry-After"] = str(wait)
    return response


@bp.post("/logout")
def logout():
    """Sign out (a POST with CSRF, so another site cannot sign an admin out)."""
    form = ActionForm()
    if form.validate_on_submit():
        logout_user()
        session.clear()
        flash("You have signed out.", "info")
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
