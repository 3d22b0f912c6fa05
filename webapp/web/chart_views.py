"""The pictures of the overview, a run's page and a learner's page: core's figures
(webapp/core/chart_data.py, webapp/core/run_charts.py) laid out as charts (webapp/web/charts.py)."""

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from webapp.core import chart_data
from webapp.core import run_charts
from webapp.core.clock import utcnow
from webapp.core.models import ReportRun
from webapp.core.models import User
from webapp.core.months import Month
from webapp.core.run_charts import Outcome
from webapp.core.words import plural
from webapp.web import charts
from webapp.web.charts import Chart
from webapp.web.charts import Series
from webapp.web.charts import Table
from webapp.web.charts import number
from webapp.web.filters import duration
from webapp.web.filters import localtime

SENT = Series("sent", "Sent", "good")
FAILED = Series("failed", "Failed", "bad")
SKIPPED = Series("skipped", "Skipped", "warn")
UNKNOWN = Series("unknown", "Outcome unknown", "wait")
CANCELLED = Series("cancelled", "Cancelled", "mute")
WAITING = Series("waiting", "Not sent yet", "brand")
OVERVIEW_MONTHS = 12
LEARNER_MONTHS = 12


def _short(month: Month) -> str:
    return month.label[:3]


def _abbreviated(month: Month) -> str:
    return f"{month.label[:3]} {month.year}"


def months_chart(session: Session) -> Chart:
    """Reports sent, failed and skipped in each of the last 12 months (stacked columns)."""
    months = chart_data.reports_by_month(session, OVERVIEW_MONTHS)
    series = [SENT, FAILED, SKIPPED]
    if any(m.unknown for m in months):  # shown only when there is any: it needs a look
        series.append(UNKNOWN)
    values = [[getattr(m, s.key) for s in series] for m in months]
    total = {s.key: sum(getattr(m, s.key) for m in months) for s in series}
    first, last = months[0].month.label, months[-1].month.label
    words = ", ".join(
        f"{number(n)} {s.label.lower()}" for s, n in zip(series, total.values(), strict=True)
    )
    summary = f"Reports of {first} to {last}: {words}."
    busiest = max(months, key=lambda m: m.sent)
    if busiest.sent:
        summary += f" Most were sent for {busiest.month.label}: {number(busiest.sent)}."
    return charts.stacked_columns(
        "chart-months",
        # Named without "month": the start form's Month field is found by its label.
        "Reports sent, failed and skipped",
        [_abbreviated(m.month) for m in months],
        series,
        values,
        short_labels=[_short(m.month) for m in months],
        summary=summary,
        empty_text="No reports in these months yet",
        label_heading="Month",
    )


def elapsed(seconds: float) -> str:
    """Time since a run's start on its chart's axis: '1.5 s', '30 s', '2 min', '1.5 h'."""
    if seconds < 60:
        return f"{number(seconds, 1)} s"
    if seconds < 3600:
        return f"{number(seconds / 60, 1)} min"
    if seconds < 2 * 86400:
        return f"{number(seconds / 3600, 1)} h"
    return f"{number(seconds / 86400, 1)} d"


def _sends_chart(run: ReportRun, timeline: run_charts.Timeline) -> Chart:
    size = timeline.bucket
    starts = [i * size for i in range(max(len(timeline.counts), 1))]
    counts = timeline.counts or [0]
    labels = [elapsed(s) for s in starts]
    busiest = max(range(len(counts)), key=counts.__getitem__)
    summary = (
        f"{plural(timeline.sent, 'report')} sent since the run started at "
        f"{localtime(timeline.start)}, counted every {elapsed(size)}."
    )
    if timeline.sent:
        summary += (
            f" The most in one {elapsed(size)}: {number(counts[busiest])}, "
            f"from {labels[busiest]} on."
        )
    return charts.columns(
        "chart-sends",
        f"Reports sent every {elapsed(size)}",
        labels,
        counts,
        series=SENT,
        summary=summary,
        empty_text="Nothing sent yet",
        label_heading="Since the start",
    )


# Each outcome in words, with the series (colour and texture) of its state.
OUTCOME_WORDS = {
    Outcome.SENT: ("Sent", SENT),
    Outcome.FAILED_ADDRESS: ("Failed: the address on file cannot be mailed", FAILED),
    Outcome.FAILED_MAILBOX_GONE: ("Failed: no such mailbox (hard bounce)", FAILED),
    Outcome.FAILED_REFUSED: ("Failed: refused by the mail server (SMTP 5xx)", FAILED),
    Outcome.FAILED_TEMPORARY: ("Failed: deferred until attempts ran out (SMTP 4xx)", FAILED),
    Outcome.FAILED_NO_REPLY: ("Failed: no answer from the server", FAILED),
    Outcome.FAILED_OTHER: ("Failed: other reasons", FAILED),
    Outcome.SKIPPED_UNSUBSCRIBED: ("Skipped: unsubscribed", SKIPPED),
    Outcome.SKIPPED_BOUNCED: ("Skipped: address bounced before (suppressed)", SKIPPED),
    Outcome.SKIPPED_ADMIN: ("Skipped: suppressed by an admin", SKIPPED),
    Outcome.SKIPPED_EMPTY: ("Skipped: no quizzes in the month", SKIPPED),
    Outcome.SKIPPED_GONE: ("Skipped: learner no longer exists", SKIPPED),
    Outcome.SKIPPED_OTHER: ("Skipped: other reasons", SKIPPED),
    Outcome.UNKNOWN: ("Outcome unknown (may have arrived)", UNKNOWN),
    Outcome.CANCELLED: ("Cancelled", CANCELLED),
    Outcome.WAITING: ("Not sent yet", WAITING),
}


def _outcomes_chart(found: dict[Outcome, int]) -> Chart:
    rows = [o for o in Outcome if found[o] or o == Outcome.SENT]
    failed = sum(n for o, n in found.items() if OUTCOME_WORDS[o][1] is FAILED)
    skipped = sum(n for o, n in found.items() if OUTCOME_WORDS[o][1] is SKIPPED)
    labels = [OUTCOME_WORDS[o][0] for o in rows]
    values = [found[o] for o in rows]
    series = [OUTCOME_WORDS[o][1] for o in rows]
    # A run without failures or skips says so with a zero bar rather than leaving it out.
    for count, word, kind in ((failed, "Failed", FAILED), (skipped, "Skipped", SKIPPED)):
        if not count:
            labels.append(word)
            values.append(0)
            series.append(kind)
    summary = (
        "; ".join(f"{label}: {number(n)}" for label, n in zip(labels, values, strict=True)) + "."
    )
    return charts.bars(
        "chart-outcomes",
        "Outcomes",
        labels,
        values,
        series=series,
        summary=summary,
        label_heading="Outcome",
        value_heading="Reports",
    )


@dataclass(frozen=True)
class RunCharts:
    sends: Chart
    outcomes: Chart
    started: str  # when the run started, in words
    length: str  # how long it has run, in words


def run_page_charts(
    session: Session, run: ReportRun, ledger_counts: dict[str, int] | None = None
) -> RunCharts:
    """The run's sends over time and its outcomes by class; `ledger_counts`, the run's
    deliveries by state just read from the ledger, if the caller has them."""
    timeline = run_charts.sends_over_time(session, run)
    end = run.finished_at or utcnow()
    seconds = max((end - timeline.start) / timedelta(seconds=1), 0)
    return RunCharts(
        sends=_sends_chart(run, timeline),
        outcomes=_outcomes_chart(run_charts.outcomes(session, run.id, ledger_counts)),
        started=localtime(timeline.start),
        # Under a minute in tenths: the demo's 200 reports take 1.7 s, not "2 s" or "0 s".
        length=elapsed(seconds) if seconds < 60 else duration(seconds),
    )


@dataclass(frozen=True)
class LearnerCharts:
    average: Chart
    quizzes: Chart
    table: Table  # both charts' numbers, a month a row


def learner_charts(session: Session, learner: User) -> LearnerCharts:
    """The learner's average and quizzes in each of the last 12 months, this one included."""
    months = chart_data.months_ending(Month.current(), LEARNER_MONTHS)
    figures = chart_data.learner_months(session, learner.id, months)
    labels = [_abbreviated(f.month) for f in figures]
    short = [_short(f.month) for f in figures]
    averages = [f.average_percent for f in figures]
    quizzes = [f.attempts for f in figures]
    active = [f for f in figures if f.attempts]
    name = learner.display_name
    if active:
        best = max(active, key=lambda f: f.average_percent)
        summary = (
            f"{name} took {plural(sum(quizzes), 'quiz', 'quizzes')} in {len(active)} of the last "
            f"{LEARNER_MONTHS} months; the best average was {number(best.average_percent, 1)}% "
            f"in {best.month.label}."
        )
    else:
        summary = f"{name} took no quizzes in the last {LEARNER_MONTHS} months."
    average = charts.line(
        "chart-learner-average",
        "Average score",
        labels,
        averages,
        series=Series("average", "Average score", "brand"),
        top=100,
        suffix="%",
        decimals=1,
        short_labels=short,
        summary=summary,
        empty_text="No quizzes in these months",
    )
    counted = charts.columns(
        "chart-learner-quizzes",
        "Quizzes taken",
        labels,
        quizzes,
        series=Series("quizzes", "Quizzes taken", "brand"),
        short_labels=short,
        summary=summary,
        empty_text="No quizzes in these months",
    )
    rows = [
        (
            f.month.label,
            (number(f.attempts), number(f.average_percent, 1, "%") if f.attempts else "—"),
        )
        for f in figures
    ]
    table = Table(f"{name}’s quizzes and average by month", ("Month", "Quizzes", "Average"), rows)
    return LearnerCharts(average, counted, table)
