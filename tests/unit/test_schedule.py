"""The monthly schedule: the last full month starts by itself once it is due, once."""

from datetime import datetime

from sqlalchemy import select

import tasks
from tests.helpers.apps import reconfigure
from tests.helpers.factories import make_quiz
from tests.helpers.factories import make_score
from tests.helpers.factories import make_user
from webapp.core import teaching_store
from webapp.core.clock import utcnow
from webapp.core.models import ReportRun
from webapp.core.months import Month
from webapp.core.schedule import due_month
from webapp.web.services import get_session


def test_due_from_the_set_day_and_hour_until_the_month_has_a_run(session):
    assert due_month(session, datetime(2025, 1, 1, 5, 59), 1, 6) is None
    assert due_month(session, datetime(2025, 1, 1, 6, 0), 1, 6) == Month(2024, 12)
    # Missed (no consumer was up at 06:00 on the 1st): still due days later.
    assert due_month(session, datetime(2025, 1, 9, 13, 0), 1, 6) == Month(2024, 12)
    assert due_month(session, datetime(2025, 1, 2, 23, 0), 3, 6) is None
    session.add(ReportRun(task_id="0" * 36, month="2024-12", scope="all", state="done"))
    session.commit()
    assert due_month(session, datetime(2025, 1, 9, 13, 0), 1, 6) is None


def test_monthly_run_task_starts_and_mails_the_last_full_month_once(
    mail_app, smtp_server, monkeypatch
):
    # Twice in one minute: past the guard that lets one consumer a minute run it, to see
    # that the task itself starts a month once.
    monkeypatch.setattr(tasks, "first_in_slot", lambda name: True)
    month = Month.last_full()
    with mail_app.app_context():
        s = get_session()
        quiz = make_quiz(s)
        for i in range(3):
            make_score(s, make_user(s), quiz, datetime(month.year, month.month, 2 + i), 5, 10)
        s.commit()
    reconfigure(mail_app, MONTHLY_RUN=True, MONTHLY_RUN_DAY=1, MONTHLY_RUN_HOUR=0)

    task_id = tasks.monthly_run.call_local()
    assert task_id is not None
    assert len(smtp_server.messages) == 3
    assert tasks.monthly_run.call_local() is None
    with mail_app.app_context():
        run = get_session().scalar(select(ReportRun))
        assert (run.month, run.scope, run.state, run.sent) == (str(month), "all", "done", 3)


def test_monthly_run_is_off_unless_asked_for(mail_app, smtp_server):
    reconfigure(mail_app, MONTHLY_RUN=False)
    assert tasks.monthly_run.call_local() is None
    with mail_app.app_context():
        assert get_session().scalar(select(ReportRun)) is None


def test_a_periodic_task_runs_once_a_minute_however_many_consumers_ask(mail_app):
    kv = mail_app.extensions["runtime"].kv
    assert tasks.first_in_slot("refresh_statistics") is True
    assert tasks.first_in_slot("refresh_statistics") is False  # another consumer, same minute
    assert tasks.first_in_slot("reap") is True  # each task has its own minutes
    slot = tasks._slots_claimed["refresh_statistics"]
    assert kv.get(f"periodic:refresh_statistics:{slot}") == 1


def test_the_last_full_months_class_figures_are_kept_ahead_each_hour(mail_app, monkeypatch):
    monkeypatch.setattr(tasks, "first_in_slot", lambda name: True)
    month = Month.last_full()
    with mail_app.app_context():
        s = get_session()
        quiz = make_quiz(s)
        make_score(s, make_user(s), quiz, datetime(month.year, month.month, 2), 7, 10)
        s.commit()

    tasks.keep_class_month.call_local()
    after_the_task = utcnow()

    with mail_app.app_context():
        store = mail_app.extensions["runtime"].kv
        kept = teaching_store.for_month(get_session(), store, month)
    # Read back, not worked out again by the page's visit.
    assert kept.computed_at <= after_the_task and kept.view.month == month
