"""Sign in and out of the admin pages (Flask-Login); only admins get in."""

import hashlib
import time

from flask import Blueprint
from flask import current_app
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

from webapp.core.models import PASSWORD_METHOD
from webapp.core.models import User
from webapp.infra.database import db_session
from webapp.web.extensions import login_manager
from webapp.web.forms import ActionForm
from webapp.web.forms import LoginForm
from webapp.web.pages import safe_next

bp = Blueprint("auth", __name__)

BAD_CREDENTIALS = "That email and password do not match an account. Check both and try again."
NOT_ADMIN = (
    "This is a learner account. Only admins can sign in to Quiz Reports; "
    "learners receive their reports by email."
)
# Checked against when the email is unknown, so both failures take the same time.
_DUMMY_HASH = None
# Failed sign-ins allowed per account and per client address in a sliding window. The
# counts live in Huey's result store, so every web process sees the same ones.
FAILURE_WINDOW_SECONDS = 15 * 60
MAX_FAILURES_PER_EMAIL = 5
MAX_FAILURES_PER_ADDRESS = 30


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


def _failure_keys(email: str) -> list[tuple[str, int]]:
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    return [
        (f"login-failures:email:{digest}", MAX_FAILURES_PER_EMAIL),
        (f"login-failures:addr:{request.remote_addr}", MAX_FAILURES_PER_ADDRESS),
    ]


def _recent_failures(key: str, now: float) -> list[float]:
    from webapp.infra.queue import huey

    stamps = huey.get(key, peek=True) or []
    return [t for t in stamps if now - t < FAILURE_WINDOW_SECONDS]


def _wait_before_next_try(email: str) -> int:
    """Seconds until this account and address may try again; 0 when they may now."""
    now = time.time()
    try:
        waits = [
            FAILURE_WINDOW_SECONDS - (now - stamps[-limit])
            for key, limit in _failure_keys(email)
            if len(stamps := _recent_failures(key, now)) >= limit
        ]
    except Exception:  # noqa: BLE001  (a store that is down must not lock admins out)
        current_app.logger.warning("Sign-in throttle unavailable; allowing the attempt")
        return 0
    return int(max(waits, default=0)) + (1 if waits else 0)


def _note_failure(email: str) -> None:
    from webapp.infra.queue import huey

    now = time.time()
    try:
        for key, limit in _failure_keys(email):
            huey.put(key, [*_recent_failures(key, now), now][-limit:])
    except Exception:  # noqa: BLE001
        current_app.logger.warning("Sign-in throttle unavailable; failure not counted")


def _forget_failures(email: str) -> None:
    from webapp.infra.queue import huey

    try:
        huey.get(_failure_keys(email)[0][0])  # a plain get removes the entry
    except Exception:  # noqa: BLE001
        current_app.logger.warning("Sign-in throttle unavailable; failures not cleared")


@bp.route("/login", methods=["GET", "POST"])
def login():
    """The sign-in page; after signing in, go to `next` when it is a path on this site."""
    form = LoginForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next")) or ""
        if current_user.is_authenticated and current_user.is_admin:
            return redirect(form.next.data or url_for("dashboard.overview"))
    error, status, wait = None, 200, 0
    if form.validate_on_submit():
        wait = _wait_before_next_try(form.email.data)
        user = None if wait else _find_user(form.email.data)
        if wait:
            minutes = max(round(wait / 60), 1)
            error = f"Too many sign-in attempts. Wait about {minutes} minute(s), then try again."
            status = 429
        elif user is None:
            check_password_hash(_dummy_hash(), form.password.data)
            error = BAD_CREDENTIALS
        elif not user.check_password(form.password.data):
            error = BAD_CREDENTIALS
        elif not user.is_admin:
            error, status = NOT_ADMIN, 403
        else:
            _forget_failures(form.email.data)
            # A fresh session: nothing from before sign-in survives (session fixation).
            session.clear()
            login_user(user)
            session["signed_in_at"] = int(time.time())
            return redirect(safe_next(form.next.data) or url_for("dashboard.overview"), code=303)
        if error == BAD_CREDENTIALS:
            _note_failure(form.email.data)
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
    body = render_template("errors/error.html", code=400, title="Form expired", message=message)
    return make_response(body, 400)


def init_app(app) -> None:
    """Configure Flask-Login for the admin pages."""
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"
