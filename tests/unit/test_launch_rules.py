"""The rules of a start: the month must be over, a month everyone has writes no run, a dry run
warns before anyone is mailed, and the schedule is not blocked by cancelled runs."""

from datetime import datetime

import pytest
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update

import tasks
from tests.helpers.apps import reconfigure
from tests.helpers.factories import make_admin
from tests.helpers.factories import make_quiz
from tests.helpers.factories import make_score
from tests.helpers.factories import make_user
from webapp.core import launch
from webapp.core import months
from webapp.core import suppression
from webapp.core.audit import Actor
from webapp.core.models import AuditEntry
from webapp.core.models import Delivery
from webapp.core.models import ReportRun
from webapp.core.models import User
from webapp.core.months import Month
from webapp.core.months import MonthNotOver
from webapp.core.schedule import due_month
from webapp.web.services import get_session

FROM = "Quiz Reports <reports@quiz.example>"
DEC = Month(2024, 12)


def counts(session) -> tuple[int, int, int]:
    """Runs, deliveries and audit entries in the database."""
    return tuple(
        session.scalar(select(func.count()).select_from(table))
        for table in (ReportRun, Delivery, AuditEntry)
    )


def learners_with_attempts(session, n: int, month: Month = DEC) -> list:
    quiz = make_quiz(session)
    people = [make_user(session) for _ in range(n)]
    for person in people:
        make_score(session, person, quiz, datetime(month.year, month.month, 3), 5, 10)
    session.commit()
    return people


def everyone_sent(session) -> None:
    session.execute(update(Delivery).values(state="sent"))
    session.execute(update(ReportRun).values(state="done"))
    session.commit()


# --- A month everyone has ---------------------------------------------------------------


def test_repeating_a_finished_month_writes_nothing_and_says_why(session):
    learners_with_attempts(session, 3)
    launch.start_all(session, DEC, mail_from=FROM)
    everyone_sent(session)
    before = counts(session)
    with pytest.raises(launch.NothingToSend) as refused:
        launch.start_all(session, DEC, mail_from=FROM)
    assert refused.value.message == (
        "Nothing to send: all 3 learners already have their December 2024 report."
    )
    assert counts(session) == before  # no run, no delivery, no audit entry
    assert set(session.scalars(select(Delivery.state))) == {"sent"}


def test_nothing_to_send_counts_the_learners_skipped_for_other_reasons(session):
    people = learners_with_attempts(session, 2)
    make_user(session, email=None)
    admin = make_admin(session)
    launch.start_all(session, DEC, mail_from=FROM)
    everyone_sent(session)
    actor = Actor(admin.email, admin.id)
    suppression.add(session, people[0].id, people[0].email, "admin", "asked", actor)
    session.commit()
    with pytest.raises(launch.NothingToSend) as refused:
        launch.start_all(session, DEC, mail_from=FROM)
    assert refused.value.message == (
        "Nothing to send for December 2024: 1 learner already has a report; "
        "1 skipped: suppressed by an admin; 1 skipped: no email address on file."
    )


def test_no_learners_and_one_learner_say_so_in_words(session):
    with pytest.raises(launch.NothingToSend, match="there are no learners to report on"):
        launch.start_all(session, DEC, mail_from=FROM)
    learners_with_attempts(session, 1)
    launch.start_all(session, DEC, mail_from=FROM)
    everyone_sent(session)
    with pytest.raises(launch.NothingToSend, match="the only learner already has their"):
        launch.start_all(session, DEC, mail_from=FROM)


def test_a_month_with_failures_left_still_starts_for_them(session):
    learners_with_attempts(session, 3)
    launch.start_all(session, DEC, mail_from=FROM)
    everyone_sent(session)
    session.execute(update(Delivery).where(Delivery.id == 1).values(state="failed"))
    session.commit()
    assert launch.start_all(session, DEC, mail_from=FROM).total == 1


# --- The month must be over --------------------------------------------------------------


def test_a_month_is_over_from_the_first_instant_of_the_next(monkeypatch):
    monkeypatch.setattr(months, "utcnow", lambda: datetime(2026, 10, 31, 23, 59, 59))
    assert not Month(2026, 10).is_over and Month(2026, 9).is_over
    monkeypatch.setattr(months, "utcnow", lambda: datetime(2026, 11, 1, 0, 0, 0))
    assert Month(2026, 10).is_over and not Month(2026, 11).is_over


def test_no_run_starts_for_the_current_or_a_future_month(session):
    [learner] = learners_with_attempts(session, 1, Month.current())
    current, future = Month.current(), Month.current().next()
    before = counts(session)
    with pytest.raises(MonthNotOver) as refused:
        launch.start_all(session, current, mail_from=FROM)
    assert str(refused.value) == (
        f"{current.label} is not over yet: its reports would miss the attempts still to come. "
        f"Its run can start from 1 {current.next().label} (UTC); "
        f"pick {Month.last_full().label} or an earlier month."
    )
    # One learner too: a partial report would count as sent, and the month's run skip them.
    with pytest.raises(MonthNotOver, match="is not over yet"):
        launch.start_one(session, current, learner.id, mail_from=FROM)
    with pytest.raises(MonthNotOver, match="is in the future"):
        launch.start_all(session, future, mail_from=FROM)
    assert counts(session) == before


# --- What a dry run says -------------------------------------------------------------------


def test_a_dry_run_of_a_month_without_attempts_warns(session):
    learners_with_attempts(session, 2)
    march = Month(2024, 3)
    assert launch.plan(session, march).warnings() == [
        "No learner has an attempt in March 2024: every report would say there was no activity."
    ]
    quiet = launch.plan(session, march, skip_empty=True)
    assert quiet.warnings() == [
        "No learner has an attempt in March 2024: empty reports are skipped, "
        "so nobody would be mailed.",
        "Nothing to send for March 2024: "
        "2 skipped: no attempts in March 2024 (empty reports are skipped).",
    ]
    assert launch.plan(session, DEC).warnings() == []
    one = launch.plan(session, march, user_id=session.scalar(select(func.min(User.id))))
    assert one.warnings() == [
        "This learner has no attempt in March 2024: the report would say there was no activity."
    ]


def test_a_dry_run_of_the_current_month_is_a_preview_that_says_so(session):
    learners_with_attempts(session, 2, Month.current())
    current = Month.current()
    the_plan = launch.plan(session, current)
    assert len(the_plan.to_send) == 2
    assert the_plan.warnings() == [
        f"{current.label} is not over yet: this dry run is only a preview. A run for it is "
        f"refused until the month has ended (from 1 {current.next().label}, UTC), "
        "so that no learner gets a partial report."
    ]


# --- The schedule -------------------------------------------------------------------------


def a_run(session, state: str, started_by_id=None, month: str = "2024-12") -> None:
    n = session.scalar(select(func.count()).select_from(ReportRun))
    session.add(
        ReportRun(
            task_id=f"{n:08d}-0000-4000-8000-000000000000",
            month=month,
            scope="all",
            state=state,
            started_by_id=started_by_id,
        )
    )
    session.commit()


DUE = datetime(2025, 1, 2, 7, 0)


@pytest.mark.parametrize("state", ["cancelled", "failed"])
def test_a_month_whose_runs_were_cancelled_or_failed_is_still_due(session, state):
    admin = make_admin(session)
    a_run(session, state, admin.id)
    a_run(session, "done", admin.id, month="2024-11")  # another month's run is no matter
    assert due_month(session, DUE, 1, 6) == DEC


@pytest.mark.parametrize("state", ["queued", "running", "paused", "done"])
def test_a_month_with_a_run_going_or_done_is_not_due(session, state):
    a_run(session, "cancelled", make_admin(session).id)
    a_run(session, state, make_admin(session, "b@example.test").id)
    assert due_month(session, DUE, 1, 6) is None


def test_the_schedules_own_run_cancelled_by_an_admin_stays_cancelled(session):
    a_run(session, "cancelled", started_by_id=None)
    assert due_month(session, DUE, 1, 6) is None


def last_full_world(app, n: int) -> None:
    month = Month.last_full()
    with app.app_context():
        learners_with_attempts(get_session(), n, month)


def test_the_scheduled_run_starts_after_a_cancelled_run(mail_app, smtp_server, monkeypatch):
    monkeypatch.setattr(tasks, "first_in_slot", lambda name: True)
    last_full_world(mail_app, 3)
    with mail_app.app_context():
        s = get_session()
        admin = make_admin(s)
        run = launch.start_all(s, Month.last_full(), mail_from=FROM, actor=Actor("a", admin.id))
        s.execute(update(ReportRun).where(ReportRun.id == run.id).values(state="cancelled"))
        s.execute(update(Delivery).values(state="cancelled"))
        s.commit()
    reconfigure(mail_app, MONTHLY_RUN=True, MONTHLY_RUN_DAY=1, MONTHLY_RUN_HOUR=0)
    assert tasks.monthly_run.call_local() is not None
    assert len(smtp_server.messages) == 3
    assert tasks.monthly_run.call_local() is None  # done now: not repeated


def test_the_schedule_writes_no_run_when_everyone_has_their_report(
    mail_app, smtp_server, monkeypatch
):
    monkeypatch.setattr(tasks, "first_in_slot", lambda name: True)
    last_full_world(mail_app, 2)
    with mail_app.app_context():
        s = get_session()
        admin = make_admin(s)
        launch.start_all(s, Month.last_full(), mail_from=FROM, actor=Actor("a", admin.id))
        s.execute(update(ReportRun).values(state="cancelled"))
        s.execute(update(Delivery).values(state="sent"))
        s.commit()
    reconfigure(mail_app, MONTHLY_RUN=True, MONTHLY_RUN_DAY=1, MONTHLY_RUN_HOUR=0)
    assert tasks.monthly_run.call_local() is None
    with mail_app.app_context():
        assert get_session().scalar(select(func.count()).select_from(ReportRun)) == 1
    assert smtp_server.messages == []
