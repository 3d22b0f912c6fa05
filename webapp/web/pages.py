"""Shared pieces of the admin pages: the admin-only guard, htmx-aware rendering, headers."""

import time
from urllib.parse import urlsplit

from flask import Flask
from flask import make_response
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from flask_login import current_user
from flask_login import logout_user
from werkzeug.exceptions import Forbidden

from webapp.core import progress
from webapp.core.models import ReportRun
from webapp.infra.database import db_session

# Pages: scripts and styles from our own origin only, no inline code, framed by us only.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-src 'self'; frame-ancestors 'self'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'"
)
# The HTML of an email, shown in a sandboxed iframe: no scripts, nothing fetched.
EMAIL_CSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'"
# A signed-cookie session cannot be revoked, so an admin signs in again after this long.
SESSION_MAX_SECONDS = 12 * 3600


def is_htmx() -> bool:
    """True when htmx made the request (it sends HX-Request: true in 2.x and 4.x)."""
    return request.headers.get("HX-Request") == "true"


def render(page_template: str, fragment_template: str, /, **context):
    """The component alone for htmx, the whole page (which includes it) otherwise."""
    body = render_template(fragment_template if is_htmx() else page_template, **context)
    response = make_response(body)
    response.vary.add("HX-Request")
    return response


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


def run_snapshot(run: ReportRun, *, exact: bool = False) -> dict:
    """What the progress component shows: the workers' snapshot while the run is open; once
    it has closed, the counts frozen on the run, or with `exact` the ledger's (one indexed
    GROUP BY: a report in flight when the run was cancelled may have finished since)."""
    if not run.is_open:
        if exact:
            return progress.snapshot_of(run, progress.ledger_counts(db_session, run.id))
        counts = dict.fromkeys(("pending", "sending"), 0)
        for state in ("sent", "failed", "skipped", "unknown", "cancelled"):
            counts[state] = getattr(run, state) or 0
        return progress.snapshot_of(run, counts)
    snap = progress.read(run.task_id)
    if snap is None or snap.get("state") != run.state:
        snap = progress.refresh(db_session, run)
    return snap


def conflict_response(exc):
    """409 in words, with a link to the run that is still going."""
    link = url_for("run_page.show", run_id=exc.run.id) if exc.run is not None else None
    context = {
        "code": 409,
        "title": "A run is already going",
        "message": exc.message + " Wait for it to finish, or open it to watch or cancel it.",
        "link_url": link,
        "link_text": f"Open run #{exc.run.id}" if exc.run is not None else None,
    }
    if is_htmx():
        # The component stays as it is; the message goes to the page's notice area.
        response = make_response(render_template("errors/_notice.html", **context), 409)
        response.headers["HX-Retarget"] = "#notices"
        response.headers["HX-Reswap"] = "innerHTML"
    else:
        response = make_response(render_template("errors/error.html", **context), 409)
    response.vary.add("HX-Request")
    return response


def _security_headers(response):
    headers = response.headers
    headers.setdefault("Content-Security-Policy", PAGE_CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    headers.setdefault("Referrer-Policy", "same-origin")
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    if response.mimetype == "text/html":
        # Pages carry CSRF tokens and learners' data: never into a shared or disk cache.
        headers.setdefault("Cache-Control", "no-store")
        response.vary.add("HX-Request")
    return response


def init_app(app: Flask) -> None:
    """Security headers on every response."""
    app.after_request(_security_headers)
