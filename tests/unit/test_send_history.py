"""A run's record never changes after the fact: a delivery that moves on to another run (a
resend, or a later run of the month) leaves a record of how it ended in the run it left."""

from sqlalchemy import select
from sqlalchemy import update

from webapp.core import launch
from webapp.core import progress
from webapp.core import send_history
from webapp.core.clock import utcnow
from webapp.core.lifecycle import deliveries
from webapp.core.lifecycle import runs
from webapp.core.models import Delivery
from webapp.core.models import ReportRun
from webapp.core.models import SendRecord
from webapp.core.months import Month

MONTH = Month(2024, 12)
FROM = "Quiz Reports <reports@quiz.example>"


def _finish(session, run, states):
    """Give the run's deliveries these outcomes (in id order) and close it."""
    ids = list(
        session.scalars(select(Delivery.id).where(Delivery.run_id == run.id).order_by(Delivery.id))
    )
    for did, state in zip(ids, states, strict=True):
        sent = state == "sent"
        session.execute(
            update(Delivery)
            .where(Delivery.id == did)
            .values(
                state=state,
                attempts=1,
                sent_at=utcnow() if sent else None,
                message_sha256="a" * 64 if sent else None,
                last_error=None if sent else "550 no such mailbox",
            )
        )
    session.commit()
    assert runs.close_if_complete(session, run.id)
    return ids


def test_a_resend_leaves_the_earlier_run_its_learner_and_figures(session, run_of_three):
    run, ids, learners = run_of_three
    _finish(session, run, ("sent", "sent", "failed"))
    before = runs.ledger_counts(session, run.id)
    first_id = session.get(Delivery, ids[0]).message_id

    resend = launch.start_one(session, MONTH, learners[0].id, mail_from=FROM)

    assert runs.ledger_counts(session, run.id) == before
    assert before["sent"] == 2 and before["failed"] == 1
    assert runs.ledger_counts(session, resend.id)["pending"] == 1
    lines = progress.learner_results(session, run.id)
    assert [(line.user_id, line.state) for line in lines] == [
        (learners[0].id, "sent"),
        (learners[1].id, "sent"),
        (learners[2].id, "failed"),
    ]
    record = session.scalar(select(SendRecord))
    assert (record.run_id, record.next_run_id, record.state) == (run.id, resend.id, "sent")
    assert record.message_id == first_id and record.message_sha256 == "a" * 64
    # The resend is mailed under a new Message-ID; the record keeps the first one.
    assert session.get(Delivery, ids[0]).message_id != first_id


def test_the_learner_lists_every_send_of_a_month(session, run_of_three):
    run, ids, learners = run_of_three
    _finish(session, run, ("sent", "sent", "failed"))
    resend = launch.start_one(session, MONTH, learners[0].id, mail_from=FROM)

    sends = send_history.sends_of(session, learners[0].id)

    assert [(s.run_id, s.state, s.current, s.is_resend) for s in sends] == [
        (resend.id, "pending", True, True),
        (run.id, "sent", False, False),
    ]
    assert sends[0].message_id != sends[1].message_id
    assert sends[1].sent and sends[1].why is None


def test_a_later_run_of_the_month_keeps_the_earlier_runs_failure(session, run_of_three):
    run, ids, learners = run_of_three
    _finish(session, run, ("sent", "sent", "failed"))

    again = launch.start_all(session, MONTH, mail_from=FROM)

    assert again.total == 1
    assert runs.ledger_counts(session, run.id)["failed"] == 1
    assert sum(runs.ledger_counts(session, again.id).values()) == 1
    [record] = session.scalars(select(SendRecord)).all()
    assert (record.state, record.last_error, record.sent_at) == (
        "failed",
        "550 no such mailbox",
        None,
    )
    [failed] = [s for s in send_history.sends_of(session, learners[2].id) if not s.current]
    assert failed.why == "550 no such mailbox" and failed.run_id == run.id


def test_a_pending_report_taken_from_a_paused_run_is_cancelled_there(session, run_of_three):
    run, ids, learners = run_of_three
    runs.pause(session, run.id)

    resend = launch.start_one(session, MONTH, learners[1].id, mail_from=FROM)

    counts = runs.ledger_counts(session, run.id)
    assert counts["pending"] == 2 and counts["cancelled"] == 1
    record = session.scalar(select(SendRecord))
    assert record.reason == f"sent on its own in run #{resend.id} instead"
    assert session.get(ReportRun, run.id, populate_existing=True).state == "paused"


def test_a_resend_that_loses_the_race_writes_no_record(session, run_of_three):
    run, ids, learners = run_of_three
    deliveries.claim(session, ids[0], run.id, 60)  # being sent right now

    try:
        launch.start_one(session, MONTH, learners[0].id, mail_from=FROM)
    except launch.RunConflict:
        pass
    else:
        raise AssertionError("a report being sent was taken over")

    assert session.scalars(select(SendRecord)).all() == []
