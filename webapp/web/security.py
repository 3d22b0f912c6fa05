"""Security headers on every response: a strict CSP, no sniffing, no framing by others."""

from flask import Flask
from flask import request

# Pages: scripts and styles from our own origin only, no inline code, framed by us only.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-src 'self'; frame-ancestors 'self'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'"
)
# The HTML of an email, shown in a sandboxed iframe: no scripts, no forms, nothing fetched.
# allow-same-origin (and never allow-scripts with it) only lets the page around it read the
# email's height to size the frame; an email with no script can do nothing with its origin.
EMAIL_CSP = (
    "sandbox allow-same-origin; default-src 'none'; style-src 'unsafe-inline'; "
    "frame-ancestors 'self'"
)


def email_frame(response):
    """Headers for an email's HTML shown in the sandboxed frame: inert, and never cached."""
    response.headers["Content-Security-Policy"] = EMAIL_CSP
    response.headers["Cache-Control"] = "no-store"
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
    elif response.mimetype == "application/json" or request.path.startswith("/scheduled/"):
        # The API's answers name learners, their addresses and results: no cache keeps them.
        headers.setdefault("Cache-Control", "no-store")
    return response


def init_app(app: Flask) -> None:
    """Security headers on every response."""
    app.after_request(_security_headers)
