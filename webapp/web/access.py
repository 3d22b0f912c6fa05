"""Who may see the admin pages: signed-in admins with a fresh session; safe redirects."""

import time
from urllib.parse import urlsplit

from flask import make_response
from flask import redirect
from flask import request
from flask import session
from flask import url_for
from flask_login import UserMixin
from flask_login import current_user
from flask_login import logout_user
from werkzeug.exceptions import Forbidden

from webapp.core.models import User
from webapp.web.htmx import is_htmx

# However active, an admin signs in again after this long (the session's row, which signing
# out ends sooner, expires with it: webapp/core/sessions.py).
SESSION_MAX_SECONDS = 12 * 3600


class SignedIn(UserMixin):
    """The account of a session, as Flask-Login sees it; the core's User is left plain."""

    def __init__(self, user: User) -> None:
        self.user = user

    def get_id(self) -> str:
        return str(self.user.id)

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


def require_admin():
    """Deny by default: every admin page needs a signed-in admin with a fresh session."""
    if not current_user.is_authenticated:
        return _to_login()
    if not current_user.is_admin:
        logout_user()
        session.clear()
        raise Forbidden("Only admins may use Quiz Reports. You have been signed out.")
    signed_in = session.get("signed_in_at", 0)
    if time.time() - signed_in > SESSION_MAX_SECONDS:
        logout_user()
        session.clear()
        return _to_login()
    return None


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
