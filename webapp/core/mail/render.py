"""Report emails rendered once: HTML with inlined CSS, and plain text, from the same data."""

from datetime import datetime

import css_inline
from jinja2 import Environment
from jinja2 import FileSystemLoader
from jinja2 import StrictUndefined
from jinja2 import select_autoescape

from webapp.core.mail.mime import RenderedReport
from webapp.core.report.data import Report
from webapp.infra.settings import ROOT

# The workers have no Flask app to escape for them: autoescape must be on here.
env = Environment(
    loader=FileSystemLoader(ROOT / "templates"),
    autoescape=select_autoescape(["html", "xml"], default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)

# One configured inliner for the process. Reuse measured the same as css_inline.inline
# (0.249 ms each on a 25-attempt report, bench/bench_mime.py); it keeps the options in one
# place. Media queries are kept for phones; remote stylesheets are never fetched.
_inliner = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)

STRONG_PERCENT = 80.0
FAIR_PERCENT = 60.0
_MONTH_ABBR = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _pct(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") + "%"


def _band(value: float) -> str:
    # A word next to the colour, so the band does not depend on seeing colours.
    if value >= STRONG_PERCENT:
        return "strong"
    return "fair" if value >= FAIR_PERCENT else "needs work"


def _band_class(value: float) -> str:
    return {"strong": "strong", "fair": "fair"}.get(_band(value), "weak")


def _short_date(iso: str) -> str:
    when = datetime.fromisoformat(iso)
    return f"{when.day} {_MONTH_ABBR[when.month - 1]}, {when:%H:%M}"


env.filters.update(pct=_pct, band=_band, band_class=_band_class, short_date=_short_date)


def _signed(value: float, unit: str) -> str:
    number = f"{value:+.2f}".rstrip("0").rstrip(".") if isinstance(value, float) else f"{value:+d}"
    return f"{number} {unit}"


def _change_line(report: Report) -> str:
    previous = report.previous
    if report.first_month:
        return "This is your first month of quizzes: welcome!"
    change = report.change
    if change is None:
        return f"No quizzes in {previous.month.label} to compare with."
    quizzes = _signed(change.attempts, "quizzes" if abs(change.attempts) != 1 else "quiz")
    return (
        f"Since {previous.month.label}: {quizzes}, average "
        f"{_signed(change.average_percent, 'points')} "
        f"({_pct(previous.totals.average_percent)} → {_pct(report.totals.average_percent)})."
    )


def report_subject(report: Report) -> str:
    """The email subject of a report, e.g. "Your quiz report — December 2024"."""
    return f"Your quiz report — {report.month_label}"


def render_report(report: Report) -> RenderedReport:
    """Render a report's email once: same data, same bytes (no clock in the body)."""
    learner = report.learner
    context = {
        "report": report,
        "user": learner,
        "name": learner.display_name,
        "totals": report.totals,
        "subject": report_subject(report),
        "change_line": "" if report.empty else _change_line(report),
    }
    html = env.get_template("email/report.html").render(context)
    text = env.get_template("email/report.txt").render(context)
    return RenderedReport(subject=context["subject"], html=_inliner.inline(html), text=text)
