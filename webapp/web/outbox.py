"""Outbox: the messages the built-in capture SMTP server received (make run only)."""

from flask import Blueprint
from flask import abort
from flask import make_response
from flask import render_template
from flask import request

from webapp.core.mail.mime import parse_message
from webapp.infra.capture import count_outbox
from webapp.infra.capture import list_outbox
from webapp.infra.capture import read_captured
from webapp.web.access import require_admin
from webapp.web.htmx import render
from webapp.web.inputs import MAX_PAGE
from webapp.web.inputs import query_number
from webapp.web.security import email_frame
from webapp.web.services import settings

bp = Blueprint("outbox", __name__, url_prefix="/outbox")

PER_PAGE = 50


@bp.before_request
def capture_only():
    """Admins only, and only when mail goes to the capture server."""
    denied = require_admin()
    if denied is not None:
        return denied
    if not settings().SMTP_CAPTURE:
        abort(404, "The outbox exists only when mail goes to the built-in capture server.")
    return None


@bp.get("")
def index():
    """Captured messages, newest first."""
    directory = settings().OUTBOX_DIR
    page = query_number("page", 1, 1, MAX_PAGE)
    total = count_outbox(directory)
    pages = max((total + PER_PAGE - 1) // PER_PAGE, 1)
    page = min(page, pages)
    messages = list_outbox(directory, limit=PER_PAGE, offset=(page - 1) * PER_PAGE)
    return render(
        "outbox/index.html",
        "outbox/_messages.html",
        messages=messages,
        total=total,
        page=page,
        pages=pages,
    )


def _message(stem: str) -> dict:
    try:
        raw = read_captured(settings().OUTBOX_DIR, stem)
    except (ValueError, KeyError):
        abort(404, "There is no captured message with that id.")
    return parse_message(raw)


@bp.get("/<stem>")
def show(stem: str):
    """One captured message: headers, HTML in a sandboxed frame, plain text."""
    message = _message(stem)
    view = "text" if request.args.get("view") == "text" else "html"
    return render_template("outbox/show.html", stem=stem, message=message, view=view)


@bp.get("/<stem>/email.html")
def email_html(stem: str):
    """The HTML part alone, for the sandboxed iframe."""
    return email_frame(make_response(_message(stem)["html"]))
