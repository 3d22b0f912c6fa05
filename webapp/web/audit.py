"""Audit: the trail of who did what, filtered by action, actor, target and dates, newest first.

Admins only. The trail holds every staff member's addresses and sign-in attempts, and says
which accounts are being tried by someone guessing passwords: a security record, not a report
on the runs, and viewers are the accounts most widely handed out.
"""

import re
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import time
from datetime import timedelta

from flask import Blueprint
from flask import request

from webapp.core import audit_log
from webapp.core.audit import AuditAction
from webapp.core.states import Role
from webapp.web.access import require_role
from webapp.web.filters import display_zone
from webapp.web.forms import AuditFilterForm
from webapp.web.htmx import render
from webapp.web.services import db_session

bp = Blueprint("audit", __name__, url_prefix="/audit")
bp.before_request(require_role(Role.ADMIN))

PER_PAGE = 50


def _page() -> int:
    # ASCII digits only: str.isdigit() also takes "²", which int() refuses.
    page = request.args.get("page", "1")
    return int(page) if re.fullmatch(r"[0-9]{1,6}", page) and int(page) > 0 else 1


def _utc(day: date | None) -> datetime | None:
    """Midnight at the start of `day` in the display zone, as the trail's naive UTC."""
    if day is None:
        return None
    local = datetime.combine(day, time.min, tzinfo=display_zone())
    return local.astimezone(UTC).replace(tzinfo=None)


def _filters(form: AuditFilterForm) -> audit_log.AuditFilter:
    # The dates are days as the page shows them (DISPLAY_TIMEZONE); "To" includes its day.
    until = form.until_value + timedelta(days=1) if form.until_value else None
    return audit_log.AuditFilter(
        action=AuditAction(form.action.data) if form.action.data else None,
        actor=form.actor.data or "",
        target=form.target.data or "",
        since=_utc(form.since_value),
        until=_utc(until),
    )


def _params(form: AuditFilterForm) -> dict:
    """The filters as the query string of a page link (the empty ones left out)."""
    fields = (form.action, form.actor, form.target, form.since, form.until)
    return {field.name: field.data for field in fields if field.data}


@bp.get("")
def index():
    """A page of the trail, newest first; bad filters get a 422 with the reasons (which htmx
    swaps in, as it does a form's)."""
    form = AuditFilterForm(request.args)
    context = {"form": form, "params": _params(form), "entries": [], "page": 1, "pages": 1}
    if not form.validate():
        return render("audit/index.html", "audit/_entries.html", 422, total=0, **context)
    filters = _filters(form)
    found = audit_log.entries(db_session, filters, _page(), PER_PAGE)
    context |= {"entries": found.rows, "page": found.number, "pages": found.pages}
    return render(
        "audit/index.html",
        "audit/_entries.html",
        total=found.total,
        filtered=filters.any,
        **context,
    )
