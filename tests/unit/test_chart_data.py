"""The figures the charts draw: reports by month, a run's sends over time and outcomes by class,
a learner's quizzes and average by month (webapp/core/chart_data.py, webapp/core/run_charts.py)."""

from datetime import datetime
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy import select
from sqlalchemy import update

from tests.helpers.charts import ledger_run
from tests.helpers.charts import states
from tests.helpers.factories import make_quiz
from tests.helpers.factories import make_score
from tests.helpers.factories import make_user
from webapp.core import chart_data
from webapp.core import launch
from webapp.core import run_charts
from webapp.core import suppression
from webapp.core.clock import utcnow
from webapp.core.models import Delivery
from webapp.core.months import Month
from webapp.core.run_charts import Outcome

T0 = datetime(2026, 11, 2, 9, 0, 0)


def ledger(session, month: Month, rows: list[dict], *, start=T0, end=None):
    return ledger_run(session, month, rows, start=start, end=end)


def test_reports_by_month_counts_each_month_by_state_and_months_without_as_zero(session):
    last = Month.last_full()
    three_before = last.previous().previous().previous()
    ledger(session, last, states(sent=3, failed=1, skipped=1, unknown=1, cancelled=1))
    ledger(session, three_before, states(sent=2))
    ledger(session, three_before, states(failed=1))  # a second run of the month adds up
    too_old = chart_data.months_ending(last, 13)[0]
    ledger(session, too_old, states(sent=5))
    months = chart_data.reports_by_month(session)
    assert [m.month for m in months] == chart_data.months_ending(last, 12)
    by_month = {m.month: m for m in months}
    assert by_month[last] == chart_data.MonthReports(last, sent=3, failed=1, skipped=1, unknown=1)
    assert by_month[three_before] == chart_data.MonthReports(three_before, sent=2, failed=1)
    assert sum(m.sent + m.failed + m.skipped for m in months) == 8  # nothing from too_old


def test_reports_by_month_of_an_empty_ledger_are_twelve_zero_months(session):
    months = chart_data.reports_by_month(session)
    assert len(months) == 12 and months[-1].month == Month.last_full()
    assert all(m.sent == m.failed == m.skipped == m.unknown == 0 for m in months)


def test_the_months_end_with_this_one_once_it_has_reports(session):
    ledger(session, Month.current(), states(sent=1))
    months = chart_data.reports_by_month(session)
    assert months[-1].month == Month.current() and months[-1].sent == 1
    assert len(months) == 12


def test_bucket_sizes_fit_the_run_in_forty_columns():
    assert run_charts.bucket_for(0) == 0.1
    assert run_charts.bucket_for(1.7) == 0.1  # the demo's 200 reports: 17 columns
    assert run_charts.bucket_for(20) == 0.5
    assert run_charts.bucket_for(3600) == 120
    assert run_charts.bucket_for(30 * 86400) == 86400


def test_sends_over_time_counts_each_bucket_from_the_runs_start(session):
    at = [0.2, 0.3, 5.1, 19.9]
    rows = [{"state": "sent", "sent_at": T0 + timedelta(seconds=s)} for s in at]
    rows += [{"state": "failed"}, {"state": "sent", "sent_at": T0 - timedelta(hours=1)}]
    run = ledger(session, Month(2026, 10), rows, end=T0 + timedelta(seconds=20))
    timeline = run_charts.sends_over_time(session, run)
    assert timeline.start == T0 and timeline.bucket == 0.5
    assert len(timeline.counts) == 40 and timeline.sent == 4
    assert (timeline.counts[0], timeline.counts[10], timeline.counts[39]) == (2, 1, 1)


def test_a_retry_days_later_widens_the_buckets_to_fit(session):
    rows = [{"state": "sent", "sent_at": T0 + timedelta(seconds=s)} for s in (1, 2, 3 * 86400)]
    run = ledger(session, Month(2026, 10), rows, end=T0 + timedelta(seconds=10))
    timeline = run_charts.sends_over_time(session, run)
    assert timeline.bucket == 7200 and len(timeline.counts) <= 40
    assert timeline.counts[0] == 2 and timeline.counts[-1] == 1


def test_a_run_that_sent_nothing_has_no_columns(session):
    run = ledger(session, Month(2026, 10), states(pending=2), start=utcnow())
    timeline = run_charts.sends_over_time(session, run)
    assert timeline.counts == [] and timeline.sent == 0


def _failed(error, code=None, reason=None):
    return {"state": "failed", "last_error": error, "smtp_code": code, "reason": reason}


def test_outcomes_sort_failures_and_skips_by_what_the_ledger_says(session):
    since = datetime(2026, 10, 3)
    bad_address = "the email address on file cannot be mailed: 'x@'"
    rows = [
        *states(sent=2, pending=1, sending=1, unknown=1, cancelled=1),
        _failed(bad_address, reason=bad_address),
        _failed(
            "mailbox unavailable (550 5.1.1 no such user); the address is on the suppression "
            "list now",
            550,
        ),
        _failed("transaction failed (554 5.7.1 spam)", 554),
        _failed("transaction failed (554 5.7.1 spam)", 554),
        _failed("gave up after 5 attempts: mailbox temporarily unavailable (450)", 450),
        _failed("gave up after 5 attempts: timed out after 30 s connecting to smtp:25"),
        _failed("something nobody wrote yet"),
        *[
            {"state": "skipped", "reason": suppression.reason_words(kind, since)}
            for kind in ("unsubscribed", "hard_bounce", "admin")
        ],
        {"state": "skipped", "reason": "no attempts in October 2026"},
        {"state": "skipped", "reason": "learner no longer exists"},
        {"state": "skipped", "reason": "for a reason of its own"},
    ]
    run = ledger(session, Month(2026, 10), rows)
    found = run_charts.outcomes(session, run.id)
    assert set(found) == set(Outcome)
    assert found == {
        Outcome.SENT: 2,
        Outcome.WAITING: 2,
        Outcome.UNKNOWN: 1,
        Outcome.CANCELLED: 1,
        Outcome.FAILED_ADDRESS: 1,
        Outcome.FAILED_MAILBOX_GONE: 1,
        Outcome.FAILED_REFUSED: 2,
        Outcome.FAILED_TEMPORARY: 1,
        Outcome.FAILED_NO_REPLY: 1,
        Outcome.FAILED_OTHER: 1,
        Outcome.SKIPPED_UNSUBSCRIBED: 1,
        Outcome.SKIPPED_BOUNCED: 1,
        Outcome.SKIPPED_ADMIN: 1,
        Outcome.SKIPPED_EMPTY: 1,
        Outcome.SKIPPED_GONE: 1,
        Outcome.SKIPPED_OTHER: 1,
    }
    assert sum(found.values()) == len(rows)


def test_the_words_classified_are_the_words_the_senders_write():
    # The classes read what webapp/core/lanes.py writes: a change of its words shows here.
    lanes = (Path(__file__).parents[2] / "webapp" / "core" / "lanes.py").read_text()
    for words in (
        "; the address is on the suppression list now",
        'f"gave up after {',
        'f"no attempts in {',
        '"learner no longer exists"',
    ):
        assert words in lanes


def test_outcomes_of_a_run_without_failures_read_only_the_state_counts(session):
    run = ledger(session, Month(2026, 10), states(sent=3))
    found = run_charts.outcomes(session, run.id)
    assert found[Outcome.SENT] == 3 and sum(found.values()) == 3


def test_learner_months_average_every_question_of_the_month(session):
    learner, other = make_user(session), make_user(session)
    quiz = make_quiz(session)
    months = chart_data.months_ending(Month(2026, 11), 3)  # September to November
    make_score(session, learner, quiz, datetime(2026, 9, 30, 23, 59), 6, 10)
    make_score(session, learner, quiz, datetime(2026, 9, 2), 9, 20)
    make_score(session, learner, quiz, datetime(2026, 11, 1), 1, 4)
    make_score(session, learner, quiz, datetime(2026, 8, 31, 23, 59), 10, 10)  # before
    make_score(session, learner, quiz, datetime(2026, 12, 1), 10, 10)  # after
    make_score(session, other, quiz, datetime(2026, 10, 5), 10, 10)  # someone else's
    session.commit()
    figures = chart_data.learner_months(session, learner.id, months)
    assert [(f.month, f.attempts, f.average_percent) for f in figures] == [
        (Month(2026, 9), 2, 50.0),  # 15 of 30 questions, not the mean of 60 % and 45 %
        (Month(2026, 10), 0, None),
        (Month(2026, 11), 1, 25.0),
    ]


def test_months_ending_counts_back_across_a_year():
    assert chart_data.months_ending(Month(2026, 2), 3) == [
        Month(2025, 12),
        Month(2026, 1),
        Month(2026, 2),
    ]


def test_a_resent_report_counts_once_in_its_month(session):
    month = Month.last_full()
    first = ledger(session, month, states(failed=1))
    second = ledger(session, month, [])
    # A resend moves the learner's one delivery of the month into the new run.
    session.execute(
        update(Delivery).where(Delivery.run_id == first.id).values(run_id=second.id, state="sent")
    )
    session.commit()
    last = chart_data.reports_by_month(session)[-1]
    assert (last.sent, last.failed) == (1, 0)


def _plans(session, run) -> list[str]:
    """SQLite's plan of each statement the run's two charts and the overview's run."""
    seen = []

    def record(conn, cursor, statement, params, context, executemany):
        seen.append((statement, params))

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", record)
    try:
        run_charts.sends_over_time(session, run)
        run_charts.outcomes(session, run.id)
        chart_data.reports_by_month(session)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    raw = session.connection().connection.driver_connection
    return [
        " / ".join(row[-1] for row in raw.execute(f"EXPLAIN QUERY PLAN {sql}", params))
        for sql, params in seen
    ]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # SQLite's own EXPLAIN
def test_the_charts_count_from_the_index_never_reading_the_ledgers_rows(session):
    rows = [{"state": "sent", "sent_at": T0 + timedelta(seconds=1)}, {"state": "failed"}]
    run = ledger(session, Month.last_full(), rows, end=T0 + timedelta(seconds=5))
    plans = _plans(session, run)
    # The first is the run's sends over time, the last the overview's months.
    for plan in (plans[0], plans[-1]):
        assert "SEARCH delivery USING COVERING INDEX ix_delivery_run_state_sent" in plan, plan
    assert not any("SCAN delivery" in p for p in plans), plans


def test_a_run_keeps_its_learner_in_its_charts_after_a_resend(session):
    sent_at = T0 + timedelta(seconds=3)
    first = ledger(session, Month(2026, 10), [{"state": "sent", "sent_at": sent_at}])
    first.finished_at = T0 + timedelta(seconds=10)
    (user_id,) = session.scalars(select(Delivery.user_id).where(Delivery.run_id == first.id))
    session.commit()
    # A resend moves the learner's delivery into a run of its own; a record stays behind.
    again = launch.start_one(session, Month(2026, 10), user_id, mail_from="r@quiz.example")
    assert again.id != first.id
    assert run_charts.outcomes(session, first.id)[Outcome.SENT] == 1
    timeline = run_charts.sends_over_time(session, first)
    assert timeline.sent == 1 and timeline.counts[6] == 1  # 3 s in half-second buckets
    waiting = run_charts.outcomes(session, again.id)
    assert waiting[Outcome.WAITING] == 1 and waiting[Outcome.SENT] == 0


def test_a_failure_recorded_before_a_later_run_keeps_its_class(session):
    month = Month(2026, 10)
    bounce = "mailbox unavailable (550 5.1.1 no such user)"
    first = ledger(session, month, [{"state": "failed", "smtp_code": 550, "last_error": bounce}])
    (user_id,) = session.scalars(select(Delivery.user_id).where(Delivery.run_id == first.id))
    launch.start_one(session, month, user_id, mail_from="r@quiz.example")
    assert run_charts.outcomes(session, first.id)[Outcome.FAILED_REFUSED] == 1
