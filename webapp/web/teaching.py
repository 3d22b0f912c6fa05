"""Teaching: a teacher's view of one month (how the class did, who improved, who made no
attempt), and its quizzes and learners as CSV."""

import csv
import io
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Sequence

from flask import Blueprint
from flask import Response
from flask import request
from flask import stream_with_context
from werkzeug.exceptions import BadRequest

from webapp.core import teaching_export
from webapp.core import teaching_store
from webapp.core.months import Month
from webapp.core.months import MonthError
from webapp.core.teaching import absent
from webapp.web.access import require_staff
from webapp.web.htmx import render
from webapp.web.inputs import MAX_PAGE
from webapp.web.inputs import query_number
from webapp.web.services import db_session
from webapp.web.services import store

bp = Blueprint("teaching", __name__, url_prefix="/teaching")
bp.before_request(require_staff)

ABSENT_PER_PAGE = 25
TABLES = ("quizzes", "learners")


def _month() -> Month:
    """The month asked for (the last finished one when none is), or a 400 in words."""
    text = request.args.get("month", "").strip()
    if not text:
        return Month.last_full()
    try:
        month = Month.parse(text, allow_future=True)
    except MonthError:
        raise BadRequest(
            f"“{text[:40]}” is not a month: pick one as YYYY-MM, for example {Month.last_full()}."
        ) from None
    if month > Month.current():
        raise BadRequest(
            f"{month.label} has not begun: there are no attempts to show yet. "
            f"Pick {Month.current().label} or an earlier month."
        )
    return month


@bp.get("")
def index():
    """The teacher's view of a month; ?format=csv&table=quizzes|learners downloads it."""
    month = _month()
    wanted = request.args.get("format", "html")
    if wanted == "csv":
        return _download(month)
    if wanted != "html":
        raise BadRequest("format must be html or csv.")
    page = query_number("page", 1, 1, MAX_PAGE)
    kept = teaching_store.for_month(db_session, store(), month)
    view = kept.view
    current = Month.current()
    return render(
        "teaching/index.html",
        "teaching/_absent.html",
        view=view,
        month=month,
        computed_at=kept.computed_at,
        going=month == current,
        previous=month.previous(),
        following=month.next() if month < current else None,
        max_month=str(current),
        absent=absent(db_session, view, page, ABSENT_PER_PAGE),
        largest_bin=max((b.learners for b in view.distribution), default=0),
    )


def _download(month: Month) -> Response:
    table = request.args.get("table", "")
    if table not in TABLES:
        raise BadRequest("table must be quizzes or learners.")
    if table == "quizzes":
        view = teaching_store.for_month(db_session, store(), month).view
        return csv_response(
            f"quizzes-{month}.csv", teaching_export.QUIZ_HEADER, teaching_export.quiz_rows(view)
        )
    return csv_response(
        f"learners-{month}.csv",
        teaching_export.LEARNER_HEADER,
        teaching_export.learner_rows(db_session, month),
    )


# --- CSV ------------------------------------------------------------------------------------
# A spreadsheet runs a cell starting with one of these as a formula (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Excel reads UTF-8 as the local code page unless the file starts with the byte order mark.
BOM = "\ufeff"


def safe_cell(value) -> str | int | float:
    """A cell as text a spreadsheet shows, never a formula it runs: numbers as they are, text
    that starts like a formula behind an apostrophe."""
    if value is None:
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _lines(header: Sequence[str], rows: Iterable[Sequence]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([safe_cell(name) for name in header])
    yield BOM + buffer.getvalue()
    for row in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([safe_cell(value) for value in row])
        yield buffer.getvalue()


def csv_response(filename: str, header: Sequence[str], rows: Iterable[Sequence]) -> Response:
    """A UTF-8 CSV attachment streamed from rows (read inside the request), never cached."""
    response = Response(stream_with_context(_lines(header, rows)), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    # The learners' table names learners and their addresses: no cache keeps it.
    response.headers["Cache-Control"] = "no-store"
    return response
