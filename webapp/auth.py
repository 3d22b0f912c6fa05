"""Sign in and out of the admin pages (Flask-Login); only admins get in."""

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
from sqlalchemy import func
from sqlalchemy import select
from werkzeug.security import check_password_hash

from webapp.db import db_session
from webapp.extensions import login_manager
from webapp.forms import ActionForm
from webapp.forms import LoginForm
from webapp.models import PASSWORD_METHOD
from webapp.models import User
from webapp.web import safe_next

bp = Blueprint("auth", __name__)

BAD_CREDENTIALS = "That email and password do not match an account. Check both and try again."
NOT_ADMIN = (
    "This is a learner account. Only admins can sign in to Quiz Reports; "
    "learners receive their reports by email."
)
# Checked against when the email is unknown, so both failures take the same time.
_DUMMY_HASH = None


def _dummy_hash() -> str:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        from werkzeug.security import generate_password_hash

        _DUMMY_HASH = generate_password_hash("not a password", method=PASSWORD_METHOD)
    return _DUMMY_HASH


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """The signed-in user of a session, by id."""
    if not user_id.isdigit():
        return None
    return db_session.get(User, int(user_id))


def _find_user(email: str) -> User | None:
    email = email.strip().lower()
    users = db_session.scalars(select(User).where(func.lower(User.email) == email).limit(2)).all()
    # Prefer the admin account when a learner shares the address.
    admins = [u for u in users if u.is_admin]
    return (admins or users or [None])[0]


@bp.route("/login", methods=["GET", "POST"])
def login():
    """The sign-in page; after signing in, go to `next` when it is a path on this site."""
    form = LoginForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next")) or ""
        if current_user.is_authenticated and current_user.is_admin:
            return redirect(form.next.data or url_for("dashboard.overview"))
    error = None
    status = 200
    if form.validate_on_submit():
        user = _find_user(form.email.data)
        if user is None:
            check_password_hash(_dummy_hash(), form.password.data)
            error = BAD_CREDENTIALS
        elif not user.check_password(form.password.data):
            error = BAD_CREDENTIALS
        elif not user.is_admin:
            error, status = NOT_ADMIN, 403
        else:
            # A fresh session: nothing from before sign-in survives (session fixation).
            session.clear()
            login_user(user)
            session["signed_in_at"] = int(time.time())
            return redirect(safe_next(form.next.data) or url_for("dashboard.overview"), code=303)
    form.password.data = ""
    return make_response(render_template("auth/login.html", form=form, error=error), status)


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
    body = render_template("errors/error.html", code=400, title="Form expired", message=message)
    return make_response(body, 400)


def init_app(app) -> None:
    """Configure Flask-Login for the admin pages."""
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"
