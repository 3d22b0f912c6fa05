"""A delivery taken over by another run of its month: an admin's Send or Resend of one
learner, or a new all-learner run that takes over the failed, cancelled and skipped.

    failed | cancelled | skipped ──retake──▶ pending (in the new run)
    any state but sending ──take_for_resend──▶ pending (in a one-learner run)

The ledger keeps one delivery a learner a month, and it belongs to the run sending it now.
Before it moves, what it was in the run it leaves is written down as a SendRecord, in the
same transaction: that run's page, counts and results keep the learner, and the learner page
lists every send of the month. A delivery that leaves while still to be decided (pending in
a paused run, say) is recorded there as cancelled: that run will not send it.
"""

from sqlalchemy import case
from sqlalchemy import insert
from sqlalchemy import literal
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import Session

from webapp.core.clock import utcnow
from webapp.core.models import Delivery
from webapp.core.models import SendRecord
from webapp.core.states import DELIVERY_OPEN
from webapp.core.states import DELIVERY_RETAKEN
from webapp.core.states import DeliveryKind
from webapp.core.states import DeliveryState

PENDING = DeliveryState.PENDING
_BATCH = 500


def taken_over_note(next_run_id: int) -> str:
    """Why a run that lost an undecided delivery to another run did not send it."""
    return f"sent on its own in run #{next_run_id} instead"


def _record(session: Session, delivery_ids: list[int], next_run_id: int) -> None:
    """Write down what these deliveries are in their present run, before they leave it."""
    undecided = Delivery.state.in_(DELIVERY_OPEN)
    sent = Delivery.state == DeliveryState.SENT
    columns = {
        "delivery_id": Delivery.id,
        "run_id": Delivery.run_id,
        "next_run_id": literal(next_run_id),
        "user_id": Delivery.user_id,
        "month": Delivery.month,
        "state": case((undecided, literal(DeliveryState.CANCELLED.value)), else_=Delivery.state),
        "reason": case((undecided, literal(taken_over_note(next_run_id))), else_=Delivery.reason),
        "last_error": Delivery.last_error,
        "smtp_code": Delivery.smtp_code,
        "attempts": Delivery.attempts,
        "message_id": Delivery.message_id,
        # A delivery keeps the hash and time of its last send until it is sent again: they
        # belong to this run only if it sent it.
        "message_sha256": case((sent, Delivery.message_sha256), else_=None),
        "sent_at": case((sent, Delivery.sent_at), else_=None),
        "decided_at": Delivery.updated_at,
        "recorded_at": literal(utcnow()),
    }
    session.execute(
        insert(SendRecord).from_select(
            list(columns), select(*columns.values()).where(Delivery.id.in_(delivery_ids))
        )
    )


def _pending_in(run_id: int) -> dict:
    """The values that put a delivery back to pending, as a fresh delivery of `run_id`."""
    return {
        "run_id": run_id,
        "state": PENDING,
        "reason": None,
        "next_attempt_at": None,
        "lease_until": None,
        "updated_at": utcnow(),
    }


def retake(session: Session, run_id: int, month: str, user_ids: list[int]) -> None:
    """failed, cancelled or skipped → pending in a new run of the month (uncommitted)."""
    for start in range(0, len(user_ids), _BATCH):
        # Held until the caller commits: what is recorded is what is moved.
        ids = list(
            session.scalars(
                select(Delivery.id)
                .where(
                    Delivery.month == month,
                    Delivery.kind == DeliveryKind.MONTHLY,
                    Delivery.user_id.in_(user_ids[start : start + _BATCH]),
                    Delivery.state.in_(DELIVERY_RETAKEN),
                )
                .with_for_update()
            )
        )
        if not ids:
            continue
        _record(session, ids, run_id)
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids))
            .values(_pending_in(run_id))
            .execution_options(synchronize_session=False)
        )


def take_for_resend(
    session: Session, delivery: Delivery, run_id: int, not_in_flight, fresh_message_id: str
) -> bool:
    """Any state but sending → pending in a one-learner run: an admin's Send or Resend
    (uncommitted; the caller rolls back when this returns False).

    Compare-and-set on the state and run the caller saw, so of two Resends at once exactly
    one wins; `not_in_flight` is a SQL condition that the delivery's run is not sending it.
    A sent report takes `fresh_message_id`: receivers such as Gmail drop a Message-ID they
    have seen, and the learner who asked again would get nothing. Every other state keeps
    its own: after `unknown` a receiver holding the first copy can drop the second; failed,
    cancelled and skipped were never accepted (or, after an unknown, it is that case again).
    """
    seen = (
        Delivery.id == delivery.id,
        Delivery.state == delivery.state,
        Delivery.run_id == delivery.run_id,
        Delivery.state != DeliveryState.SENDING,
        not_in_flight,
    )
    held = session.scalar(select(Delivery.id).where(*seen).with_for_update())
    if held is None:
        return False
    _record(session, [held], run_id)
    values = {**_pending_in(run_id), "attempts": 0}
    if delivery.state == DeliveryState.SENT:  # the row is held, and was seen "sent"
        values["message_id"] = fresh_message_id
    taken = session.execute(
        update(Delivery).where(*seen).values(values).execution_options(synchronize_session=False)
    ).rowcount
    return taken == 1
