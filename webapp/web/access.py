"""Who may see the dashboard and do what: staff accounts by role (viewer < operator < admin),
enabled, with a fresh session; and safe redirects."""

import time
from urllib.parse import urlsplit

from flask import Flask
from flask import make_response
from flask import redirect
from flask import request
from flask import session
from flask import url_for
from flask_login import UserMixin
from flask_login import current_user
from flask_login import logout_user
from werkzeug.exceptions import Forbidden

from webapp.core import staff
from webapp.core.models import User
from webapp.core.states import Role
from webapp.web.htmx import is_htmx
from webapp.web.services import db_session

# However active, an admin signs in again after this long (the session's row, which signing
# out ends sooner, expires with it: webapp/core/sessions.py).
SESSION_MAX_SECONDS = 12 * 3600
NOT_STAFF = (
    "Only staff accounts (viewers, operators and admins) may use Quiz Reports; "
    "learners receive their reports by email."
)


class SignedIn(UserMixin):
    """The account of a session, as Flask-Login sees it; the core's User is left plain."""

    def __init__(self, user: User) -> None:
        self.user = user

    def get_id(self) -> str:
        return str(self.user.id)

    def can(self, role: Role) -> bool:
        """True when the account's role is `role` or above: templates show a button only to
        those who may use it (the route refuses the others anyway)."""
        own = self.user.staff_role
        return own is not None and own.at_least(role)

    def __getattr__(self, name: str):
        # id, email, display_name, is_admin, ...: everything else is the account's own.
        if name == "user":
            raise AttributeError(name)
        return getattr(self.user, name)


def safe_next(target: str | None) -> str | None:
    """`target` when it is a path on this site, else None (no //host, /\\host or URLs)."""
    if not target or not isinstance(target, str) or len(target) > 2000:
        return None
    if not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    if "\\" in target or any(ord(c) < 32 or ord(c) == 127 for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def back_to(default: str):
    """Redirect to the form's `next` field when it is local, else to `default` (no-JS posts)."""
    return redirect(safe_next(request.form.get("next")) or default, code=303)


def current_path() -> str:
    """This request's path and query, for a form's `next` field."""
    return request.full_path.rstrip("?")


# Reading needs no more than these; every other method changes something.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_NEEDS = {
    Role.VIEWER: "This needs a staff account.",
    Role.OPERATOR: "This action needs an operator or an admin.",
    Role.ADMIN: "This is for admins only.",
}
_WHAT_EACH_MAY = {
    Role.VIEWER: "a viewer may look at everything but not act",
    Role.OPERATOR: (
        "an operator may also start, pause, resume, cancel, retry, resend and send tests"
    ),
    Role.ADMIN: "an admin may also manage API tokens, accounts and the audit trail",
}


def _signed_out(message: str) -> Forbidden:
    logout_user()
    session.clear()
    return Forbidden(message + " You have been signed out.")


def check_role(required: Role):
    """Deny by default: a signed-in staff account, enabled, with a fresh session and at least
    `required`'s rank. None when the request may go on; a redirect to sign in; or Forbidden.

    The role and the account's state are read from the database on every request, so a
    demotion or a disabled account counts at once, in every open session.
    """
    if not current_user.is_authenticated:
        return _to_login()
    account = staff.standing(db_session, current_user.user)
    if account.role is None:
        raise _signed_out(NOT_STAFF)
    if account.disabled:
        raise _signed_out("This account is disabled: ask an admin to enable it again.")
    signed_in = session.get("signed_in_at", 0)
    if time.time() - signed_in > SESSION_MAX_SECONDS:
        logout_user()
        session.clear()
        return _to_login()
    if not account.role.at_least(required):
        raise Forbidden(
            f"{_NEEDS[required]} Your role is {account.role}: {_WHAT_EACH_MAY[account.role]}. "
            "Ask an admin if you should have more."
        )
    return None


def require_role(required: Role):
    """A before_request guard for a blueprint all of whose routes need `required`, e.g.
    `bp.before_request(require_role(Role.ADMIN))`."""

    def guard():
        return check_role(required)

    guard.required_role = required  # for readers of the app's rules; the route sweep tests them
    return guard


def require_staff():
    """The dashboard's rule (a before_request guard): pages are read by viewers and up, and
    every action (a POST) needs an operator or above."""
    return check_role(Role.VIEWER if request.method in SAFE_METHODS else Role.OPERATOR)


def _to_login():
    target = current_path() if request.method == "GET" and not is_htmx() else None
    login = (
        url_for("auth.login", next=target) if target and target != "/" else url_for("auth.login")
    )
    if is_htmx():
        # A redirect would be swapped into the component; ask htmx to load the page instead.
        response = make_response("", 401)
        response.headers["HX-Redirect"] = login
        return response
    return redirect(login)


def may(role: Role) -> bool:
    """For templates: True when the signed-in account's role is `role` or above, so a page
    shows a button only to those who may use it."""
    return current_user.is_authenticated and current_user.can(role)


def init_app(app: Flask) -> None:
    """Give templates `may` and the roles' names."""
    app.jinja_env.globals.update(may=may, Role=Role)
