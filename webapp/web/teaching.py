"""Teaching: a teacher's view of one month (how the class did, who improved, who made no
attempt), and its quizzes and learners as CSV."""

from typing import NoReturn

from flask import Blueprint
from flask import Response
from flask import abort
from flask import request
from flask import url_for

from webapp.core import teaching_export
from webapp.core import teaching_store
from webapp.core.months import Month
from webapp.core.months import MonthError
from webapp.core.teaching import ClassMonth
from webapp.core.teaching import absent
from webapp.web import charts
from webapp.web.access import require_staff
from webapp.web.chart_parts import Series
from webapp.web.csv_export import csv_response
from webapp.web.errors import error_page
from webapp.web.htmx import render
from webapp.web.inputs import MAX_PAGE
from webapp.web.inputs import query_number
from webapp.web.services import db_session
from webapp.web.services import store

bp = Blueprint("teaching", __name__, url_prefix="/teaching")
bp.before_request(require_staff)

ABSENT_PER_PAGE = 25
TABLES = ("quizzes", "learners")


def _refuse(title: str, message: str) -> NoReturn:
    """Stop with a 400 page in words that leads to the last finished month."""
    link, text = url_for("teaching.index"), f"Show {Month.last_full().label}"
    abort(error_page(400, title, message, link_url=link, link_text=text))


def _month() -> Month:
    """The month asked for (the last finished one when none is), or a 400 in words."""
    text = request.args.get("month", "").strip()
    if not text:
        return Month.last_full()
    try:
        month = Month.parse(text, allow_future=True)
    except MonthError:
        _refuse(
            "Not a month",
            f"“{text[:40]}” is not a month: pick one as YYYY-MM, for example {Month.last_full()}.",
        )
    if month > Month.current():
        _refuse(
            "Not begun yet",
            f"{month.label} has not begun: there are no attempts to show yet. "
            f"Pick {Month.current().label} or an earlier month.",
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
        _refuse("Unknown format", "format must be html or csv.")
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
        **_charts(view),
    )


def _charts(view: ClassMonth) -> dict:
    """The pictures of the page; its tables say the same numbers."""
    label = view.month.label
    subjects = charts.bars(
        "subject-averages",
        f"Class average by subject, {label}",
        [s.name for s in view.subjects],
        [s.average_percent for s in view.subjects],
        series=Series("average", "Class average"),
        suffix="%",
        decimals=1,
        summary="; ".join(f"{s.name} {s.average_percent:.1f}%" for s in view.subjects),
        label_heading="Subject",
        value_heading="Class average",
    )
    bins = view.distribution
    spread = charts.histogram(
        "score-distribution",
        f"Learners by monthly average, {label}",
        [b.low for b in bins] + [100],
        [b.learners for b in bins],
        series=Series("learners", "Learners"),
        suffix="%",
        summary="; ".join(f"{b.label}: {b.learners} learners" for b in bins),
        label_heading="Average",
    )
    return {"subject_chart": subjects, "distribution_chart": spread}


def _download(month: Month) -> Response:
    table = request.args.get("table", "")
    if table not in TABLES:
        _refuse("Unknown table", "table must be quizzes or learners.")
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
