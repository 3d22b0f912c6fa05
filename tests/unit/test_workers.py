"""Consumers' heartbeats: written, read as alive or silent, and gone with a graceful stop."""

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy import update

from tests.helpers.waiting import eventually
from tests.helpers.waiting import stays_true
from webapp.core import workers
from webapp.core.clock import utcnow
from webapp.core.models import WorkerBeat
from webapp.web.services import get_session


def consumer(pid: int = 4242) -> workers.Consumer:
    return workers.Consumer(
        host="worker-1",
        pid=pid,
        worker_type="thread",
        workers=2,
        periodic=True,
        started_at=utcnow(),
    )


def test_a_beat_is_written_then_refreshed_and_read_as_alive(session):
    assert workers.newest_beat_age(session) is None and not workers.any_alive(session)
    me = consumer()
    workers.beat(session, me, tasks_done=0, current_run=None)
    workers.beat(session, me, tasks_done=7, current_run=3)
    (row,) = workers.listed(session)
    assert (row.host, row.pid, row.workers, row.tasks_done, row.current_run_id) == (
        "worker-1",
        4242,
        2,
        7,
        3,
    )
    assert workers.any_alive(session) and not workers.is_silent(row)


def test_a_consumer_that_missed_three_beats_is_silent_and_forgotten_after_a_day(session):
    old, recent = consumer(1), consumer(2)
    workers.beat(session, old, 0, None)
    workers.beat(session, recent, 0, None)
    session.execute(
        update(WorkerBeat).values(beat_at=utcnow() - workers.SILENT_AFTER - timedelta(seconds=1))
    )
    session.commit()
    assert all(workers.is_silent(row) for row in workers.listed(session))
    assert not workers.any_alive(session)
    session.execute(
        update(WorkerBeat).where(WorkerBeat.pid == 1).values(beat_at=utcnow() - timedelta(days=2))
    )
    session.commit()
    workers.beat(session, consumer(3), 0, None)  # a new consumer's first beat tidies up
    assert sorted(row.pid for row in workers.listed(session)) == [2, 3]


def test_the_heartbeat_thread_reports_tasks_and_its_run_and_a_stop_removes_it(
    app, session, monkeypatch
):
    monkeypatch.setattr(workers, "BEAT_SECONDS", 0.05)
    beating = workers.Heartbeat(app.extensions["runtime"].session, consumer())
    beating.task_started(5)
    beating.start()
    beating.task_started(None)
    beating.task_finished(None)

    def reported():
        session.expire_all()
        row = session.scalar(select(WorkerBeat))
        return row is not None and (row.tasks_done, row.current_run_id) == (1, 5)

    eventually(reported, timeout=5)
    beating.task_finished(5)
    beating.stop()
    session.expire_all()
    assert session.scalar(select(WorkerBeat)) is None


def test_after_each_beat_the_heartbeat_looks_for_dead_consumers_and_stops_for_good(
    app, monkeypatch
):
    monkeypatch.setattr(workers, "BEAT_SECONDS", 0.02)
    looked = []
    beating = workers.Heartbeat(
        app.extensions["runtime"].session, consumer(), lambda: looked.append(1)
    )
    beating.start()
    eventually(lambda: len(looked) >= 3, timeout=5)
    beating.stop()
    # The stop waited for a beat under way: nothing beats or looks after it.
    after = len(looked)
    assert not beating._thread.is_alive()
    with app.app_context():
        assert workers.listed(get_session()) == []
    stays_true(lambda: len(looked) == after, seconds=0.2, message="it looked after its stop")
