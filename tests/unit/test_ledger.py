"""The ledger's rules, one at a time: claims, outcomes, run control, the reaper."""

import dataclasses
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy import update

from tests.helpers.factories import make_user
from webapp.core import actions
from webapp.core import launch
from webapp.core import progress
from webapp.core import reaper
from webapp.core import workers
from webapp.core.clock import utcnow
from webapp.core.context import Context
from webapp.core.lifecycle import deliveries
from webapp.core.lifecycle import runs
from webapp.core.lifecycle.prepared import Prepared
from webapp.core.models import Delivery
from webapp.core.models import ReportRun
from webapp.core.models import WorkerBeat
from webapp.core.months import Month
from webapp.core.states import DeliveryState
from webapp.web.services import get_session

MONTH = Month(2024, 12)
FROM = "Quiz Reports <reports@quiz.example>"


def delivery(session, did) -> Delivery:
    """The delivery as the database has it now."""
    return session.get(Delivery, did, populate_existing=True)


def test_a_delivery_is_claimed_once(session, run_of_three):
    run, ids, _ = run_of_three
    assert deliveries.claim(session, ids[0], run.id, 60) is True
    assert deliveries.claim(session, ids[0], run.id, 60) is False
    d = delivery(session, ids[0])
    assert d.state == "sending" and d.attempts == 1 and d.lease_until > utcnow()


def test_claim_of_another_runs_delivery_fails(session, run_of_three):
    run, ids, _ = run_of_three
    assert deliveries.claim(session, ids[0], run.id + 99, 60) is False


def test_released_claim_cannot_be_handed_over(session, run_of_three):
    run, ids, _ = run_of_three
    deliveries.claim(session, ids[0], run.id, 60)
    assert deliveries.release_held(session) == 1
    d = delivery(session, ids[0])
    assert d.state == "pending" and d.attempts == 0
    with pytest.raises(deliveries.ClaimLost):
        deliveries.hand_over(session, ids[0])


def test_reaper_gives_back_expired_claims_or_marks_them_unknown(app, session, run_of_three):
    run, ids, _ = run_of_three
    deliveries.claim(session, ids[0], run.id, 60)
    deliveries.claim(session, ids[1], run.id, 60)
    deliveries.hand_over(session, ids[1])
    past = utcnow() - timedelta(seconds=1)
    session.execute(update(Delivery).values(lease_until=past).where(Delivery.id.in_(ids[:2])))
    session.commit()
    assert deliveries.release_expired(session) == (1, 1)
    assert delivery(session, ids[0]).state == "pending"
    unknown = delivery(session, ids[1])
    assert unknown.state == "unknown" and "Resend" in unknown.last_error


def test_late_250_turns_unknown_into_sent(session, run_of_three):
    run, ids, _ = run_of_three
    deliveries.claim(session, ids[0], run.id, 60)
    session.execute(update(Delivery).where(Delivery.id == ids[0]).values(state="unknown"))
    session.commit()
    deliveries.mark_sent(session, ids[0], run.id, 250, b"x", "0" * 64)
    assert delivery(session, ids[0]).state == "sent"


def test_a_250_for_a_claim_this_process_does_not_hold_is_recorded(session, run_of_three):
    # Another process (or one that restarted) claimed it; its late 250 still counts.
    run, ids, _ = run_of_three
    session.execute(update(Delivery).where(Delivery.id.in_(ids[:2])).values(state="sending"))
    session.execute(update(Delivery).where(Delivery.id == ids[2]).values(state="unknown"))
    session.commit()

    def in_another_thread():  # claims are kept per thread: this one holds none of them
        with session.get_bind().connect() as db:
            for did in ids:
                deliveries.mark_sent(db, did, run.id, 250, b"x", "0" * 64)

    worker = threading.Thread(target=in_another_thread)
    worker.start()
    worker.join()
    session.expire_all()
    assert [delivery(session, did).state for did in ids] == ["sent"] * 3


def test_a_prepared_statement_refuses_an_in_list(session):
    statement = Prepared(select(Delivery.id).where(Delivery.state.in_(("a", "b"))))
    with pytest.raises(ValueError, match="IN list"):
        statement.scalar(session, {})


def test_run_closes_when_nothing_is_open(session, run_of_three):
    run, ids, _ = run_of_three
    for did in ids:
        deliveries.claim(session, did, run.id, 60)
        deliveries.mark_sent(session, did, run.id, 250, b"x", "0" * 64)
    assert runs.close_if_complete(session, run.id) is True
    closed = session.get(ReportRun, run.id, populate_existing=True)
    assert (closed.state, closed.sent, closed.total) == ("done", 3, 3)
    assert runs.close_if_complete(session, run.id) is False


def test_a_late_snapshot_from_before_the_close_does_not_hide_it(app, session, run_of_three):
    """Two workers: one closes the run and publishes; the other's snapshot, read while the
    run was still running, reaches the store after it. The store must end with the close."""
    run, ids, _ = run_of_three
    runtime = app.extensions["runtime"]
    late_session = runtime.session()
    try:
        read_before_close = late_session.get(ReportRun, run.id)
        for did in ids:
            deliveries.claim(session, did, run.id, 60)
            deliveries.mark_sent(session, did, run.id, 250, b"x", "0" * 64)
        assert runs.close_if_complete(session, run.id) is True
        closed = session.get(ReportRun, run.id, populate_existing=True)
        progress.publish(runtime.kv, session, closed, with_results=True)
        progress.publish(runtime.kv, late_session, read_before_close)
    finally:
        late_session.close()
    snap = progress.read(runtime.kv, run.task_id)
    assert (snap.state, snap.sent) == ("done", 3)
    assert [r.state for r in snap.results] == ["sent"] * 3


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_lanes_connection_sends_with_async_commits_that_stay_in_their_transaction(
    app, run_of_three
):
    """Claim and "sent" commit without waiting for the disk on PostgreSQL; the connection
    goes back to the pool waiting for every later commit, as the hand-over does."""
    run, ids, _ = run_of_three
    engine = app.extensions["runtime"].engine
    with engine.connect() as db:
        assert deliveries.claim(db, ids[0], run.id, 60)
        deliveries.hand_over(db, ids[0])
        deliveries.mark_sent(db, ids[0], run.id, 250, b"x", "0" * 64)
        if engine.dialect.name == "postgresql":
            assert db.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"
            db.rollback()
    with engine.connect() as db:
        assert db.scalar(select(Delivery.state).where(Delivery.id == ids[0])) == "sent"


def test_a_closed_run_is_published_line_by_line_as_publish_would(app, session, run_of_three):
    run, ids, learners = run_of_three
    for did in ids[:2]:
        deliveries.claim(session, did, run.id, 60)
        deliveries.mark_sent(session, did, run.id, 250, b"x", "0" * 64)
    deliveries.claim(session, ids[2], run.id, 60)
    deliveries.record_outcome(session, ids[2], DeliveryState.FAILED, last_error="no such user")
    assert runs.close_if_complete(session, run.id)
    closed = session.get(ReportRun, run.id, populate_existing=True)
    kv = app.extensions["runtime"].kv
    progress.publish_closed(kv, session, closed)
    streamed = progress.read(kv, run.task_id)
    progress.publish(kv, session, closed, with_results=True)
    built = progress.read(kv, run.task_id)
    assert dataclasses.replace(streamed, updated_at="") == dataclasses.replace(built, updated_at="")
    assert [(r.user_id, r.state, r.error) for r in streamed.results] == [
        (learners[0].id, "sent", None),
        (learners[1].id, "sent", None),
        (learners[2].id, "failed", "no such user"),
    ]


def test_circuit_breaker_trips_at_threshold_and_a_send_resets_it(session, run_of_three):
    run, ids, _ = run_of_three
    assert runs.note_failure(session, run.id, 3) is False
    assert runs.note_failure(session, run.id, 3) is False
    deliveries.claim(session, ids[0], run.id, 60)
    deliveries.mark_sent(session, ids[0], run.id, 250, b"x", "0" * 64)
    assert session.get(ReportRun, run.id, populate_existing=True).consecutive_failures == 0
    assert [runs.note_failure(session, run.id, 3) for _ in range(3)] == [False, False, True]


def test_cancel_keeps_sent_and_cancels_the_rest(session, run_of_three):
    run, ids, _ = run_of_three
    deliveries.claim(session, ids[0], run.id, 60)
    deliveries.mark_sent(session, ids[0], run.id, 250, b"x", "0" * 64)
    assert actions.cancel(session, run) == 2
    states = [delivery(session, d).state for d in ids]
    assert states == ["sent", "cancelled", "cancelled"]
    assert (run.state, run.sent, run.cancelled) == ("cancelled", 1, 2)
    with pytest.raises(actions.RunStateError):
        actions.cancel(session, run)


def test_pause_resume_and_retry_failed(session, run_of_three):
    run, ids, _ = run_of_three
    actions.pause(session, run)
    assert runs.state_of(session, run.id) == "paused"
    with pytest.raises(actions.RunStateError):
        actions.pause(session, run)
    actions.resume(session, run)
    assert runs.state_of(session, run.id) == "running"
    deliveries.claim(session, ids[0], run.id, 60)
    deliveries.record_outcome(
        session, ids[0], DeliveryState.FAILED, last_error="mailbox unavailable (550)"
    )
    assert actions.retry_failed(session, run) == 1
    assert delivery(session, ids[0]).state == "pending"


def test_two_starts_of_one_month_at_once_create_one_run(app):
    with app.app_context():
        s = get_session()
        for _ in range(5):
            make_user(s)
        s.commit()
    barrier = threading.Barrier(2)
    outcomes = []

    def start():
        with app.app_context():
            barrier.wait()
            try:
                launch.start_all(get_session(), MONTH, mail_from=FROM)
                outcomes.append("started")
            except launch.RunConflict:
                outcomes.append("conflict")

    threads = [threading.Thread(target=start) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict", "started"]
    with app.app_context():
        s = get_session()
        assert len(s.scalars(select(ReportRun)).all()) == 1
        assert len(s.scalars(select(Delivery)).all()) == 5


def test_second_resend_while_first_is_queued_is_a_conflict(session):
    learner = make_user(session)
    session.commit()
    first = launch.start_one(session, MONTH, learner.id, mail_from=FROM)
    with pytest.raises(launch.RunConflict) as exc:
        launch.start_one(session, MONTH, learner.id, mail_from=FROM)
    assert exc.value.run.id == first.id
    assert len(session.scalars(select(ReportRun)).all()) == 1


def test_new_run_takes_over_failed_but_not_sent_or_unknown(session, run_of_three):
    run, ids, _ = run_of_three
    for did, state in zip(ids, ("sent", "failed", "unknown"), strict=True):
        session.execute(update(Delivery).where(Delivery.id == did).values(state=state))
    session.execute(update(ReportRun).values(state="done"))
    session.commit()
    plan = launch.plan(session, MONTH)
    reasons = sorted(reason for _id, _name, reason in plan.skipped)
    assert reasons == [
        "outcome of the last send is unknown; use Resend to send again",
        "report for December 2024 already sent",
    ]
    again = launch.start_all(session, MONTH, mail_from=FROM)
    assert again.total == 1
    assert delivery(session, ids[1]).run_id == again.id
    assert delivery(session, ids[1]).state == "pending"


def _consumer(pid: int, *, silent: bool) -> workers.Consumer:
    """A consumer that beats now, or one that stopped beating (killed) a while ago."""
    stopped = utcnow() - workers.SILENT_AFTER - timedelta(seconds=1)
    return workers.Consumer("worker-1", pid, "thread", 2, False, stopped if silent else utcnow())


def _beat(session, consumer: workers.Consumer, run_id: int | None = None) -> None:
    workers.beat(session, consumer, 0, run_id)
    session.execute(
        update(WorkerBeat).where(WorkerBeat.id == consumer.key).values(beat_at=consumer.started_at)
    )
    session.commit()


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_silent_consumers_claims_come_back_at_once_and_its_run_is_driven_again_once(
    app, session, run_of_three
):
    run, ids, _ = run_of_three
    dead, alive = _consumer(7, silent=True), _consumer(8, silent=False)
    deliveries.claims_held_by(dead.key)
    deliveries.claim(session, ids[0], run.id, 300)
    deliveries.claim(session, ids[1], run.id, 300)
    deliveries.hand_over(session, ids[1])
    deliveries.claims_held_by(alive.key)
    deliveries.claim(session, ids[2], run.id, 300)
    deliveries.claims_held_by(None)
    _beat(session, dead, run.id)
    _beat(session, alive, run.id)
    ctx = Context(session=session, settings=app.extensions["runtime"].settings, store=None)

    taken = reaper.take_back(ctx)

    assert (taken.released, taken.unknown) == (1, 1)
    assert [r.id for r in taken.stalled] == [run.id]
    # Long before the 300 s leases run out; the live consumer keeps its claim.
    assert delivery(session, ids[0]).state == "pending"
    assert delivery(session, ids[1]).state == "unknown"
    kept = delivery(session, ids[2])
    assert (kept.state, kept.claimed_by) == ("sending", alive.key)
    # Another consumer looking a moment later finds nothing left to take.
    again = reaper.take_back(ctx)
    assert (again.released, again.unknown, again.stalled) == (0, 0, [])


def test_a_consumer_taken_for_dead_that_wakes_up_can_no_longer_send(session, run_of_three):
    run, ids, _ = run_of_three
    stalled = _consumer(7, silent=True)
    deliveries.claims_held_by(stalled.key)
    deliveries.claim(session, ids[0], run.id, 300)
    its_lease = deliveries._my_leases()[ids[0]]
    deliveries.claims_held_by(None)
    _beat(session, stalled)
    assert deliveries.release_claims_of(session, workers.silent())[:2] == (1, 0)
    # Another consumer claims it again; the stalled one comes back with its old lease.
    assert deliveries.claim(session, ids[0], run.id, 300)
    deliveries._my_leases()[ids[0]] = its_lease
    with pytest.raises(deliveries.ClaimLost):
        deliveries.hand_over(session, ids[0])


def test_a_claim_whose_run_was_paused_before_data_is_given_back_unsent(session, run_of_three):
    run, ids, _ = run_of_three
    assert deliveries.claim(session, ids[0], run.id, 60)
    runs.pause(session, run.id)

    with pytest.raises(deliveries.RunHalted):
        deliveries.hand_over(session, ids[0])

    d = delivery(session, ids[0])
    assert (d.state, d.attempts, d.data_sent) == ("pending", 0, False)
    assert d.last_error == deliveries.HALTED_NOTE
    # Once resumed, it is claimed and handed over as any other.
    runs.resume(session, run.id)
    assert deliveries.claim(session, ids[0], run.id, 60)
    deliveries.hand_over(session, ids[0])
    assert delivery(session, ids[0]).data_sent is True
