"""Run transitions: every change of a run's state is one function here.

    queued ──begin──▶ running ──close──▶ done ──reopen (retry failed)──▶ running
       │                 ▲  │
       └──pause──▶ paused ┘  └──pause──▶ paused         any open state ──cancel──▶ cancelled
                   (resume)

Each is a compare-and-set on the state it leaves, so two admins (or an admin and a worker)
acting at once cannot both win; each returns whether it changed the run.
"""

from sqlalchemy import Connection
from sqlalchemy import bindparam
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import Session

from webapp.core.audit import Actor
from webapp.core.audit import AuditAction
from webapp.core.audit import record
from webapp.core.audit import run_target
from webapp.core.clock import utcnow
from webapp.core.lifecycle import deliveries
from webapp.core.lifecycle.prepared import Prepared
from webapp.core.models import Delivery
from webapp.core.models import ReportRun
from webapp.core.models import SendRecord
from webapp.core.states import DELIVERY_FINISHED
from webapp.core.states import DELIVERY_OPEN
from webapp.core.states import RUN_ACTIVE
from webapp.core.states import RUN_OPEN
from webapp.core.states import DeliveryState
from webapp.core.states import RunState
from webapp.core.words import plural

ADMIN_PAUSE = "paused by an admin"
# Read when a claim is refused: prepared, like the ledger's per-message statements.
_RUN_STATE = Prepared(
    select(ReportRun.__table__.c.state).where(ReportRun.__table__.c.id == bindparam("rid"))
)


def ledger_counts(session: Session, run_id: int) -> dict[str, int]:
    """The run's learners by state, every state present: its deliveries, and the records of
    those that have since moved to another run (two indexed GROUP BYs)."""
    counts = {str(state): 0 for state in DeliveryState}
    for table in (Delivery, SendRecord):
        rows = session.execute(
            select(table.state, func.count()).where(table.run_id == run_id).group_by(table.state)
        ).all()
        for state, n in rows:
            counts[state] += n
    return counts


def _frozen(counts: dict[str, int]) -> dict:
    return {"total": sum(counts.values()), **{state: counts[state] for state in DELIVERY_FINISHED}}


def _move(session: Session, run_id: int, leaving: tuple, **values) -> bool:
    changed = session.execute(
        update(ReportRun)
        .where(ReportRun.id == run_id, ReportRun.state.in_(leaving))
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount
    return changed == 1


def begin(session: Session, run_id: int) -> bool:
    """queued → running, when the first worker picks the run up."""
    changed = _move(
        session, run_id, (RunState.QUEUED,), state=RunState.RUNNING, started_at=utcnow()
    )
    session.commit()
    return changed


def _note(session: Session, actor: Actor | None, action: AuditAction, run_id: int, detail=""):
    # A person's action goes into the audit trail in the transition's own transaction; the
    # product's own transitions (a worker's pause) are not recorded there.
    if actor is not None:
        record(session, actor, action, run_target(run_id), detail)


def pause(
    session: Session, run_id: int, reason: str = ADMIN_PAUSE, actor: Actor | None = None
) -> bool:
    """queued or running → paused; workers stop before their next mail."""
    changed = _move(session, run_id, RUN_ACTIVE, state=RunState.PAUSED, pause_reason=reason)
    if changed:
        _note(session, actor, AuditAction.RUN_PAUSED, run_id)
    session.commit()
    return changed


def resume(session: Session, run_id: int, actor: Actor | None = None) -> bool:
    """paused → running; the caller enqueues the run again."""
    changed = _move(session, run_id, (RunState.PAUSED,), state=RunState.RUNNING, pause_reason=None)
    if changed:
        _note(session, actor, AuditAction.RUN_RESUMED, run_id)
    session.commit()
    return changed


def cancel(session: Session, run_id: int, actor: Actor | None = None) -> int | None:
    """Any open state → cancelled; its pending deliveries with it. Sent mail stays sent.

    Returns how many deliveries were cancelled, or None when the run was not open.
    """
    if not _move(session, run_id, RUN_OPEN, state=RunState.CANCELLED, finished_at=utcnow()):
        session.rollback()
        return None
    count = deliveries.cancel_pending(session, run_id)
    _note(session, actor, AuditAction.RUN_CANCELLED, run_id, f"{plural(count, 'report')} not sent")
    session.commit()
    freeze_counts(session, run_id)
    return count


def reopen(session: Session, run_id: int) -> bool:
    """done or failed → running, for failures given another try (uncommitted)."""
    return _move(
        session, run_id, (RunState.DONE, RunState.FAILED), state=RunState.RUNNING, finished_at=None
    )


def close_if_complete(session: Session, run_id: int) -> bool:
    """queued or running → done once no delivery is open, with the counts frozen on the run."""
    # EXISTS, not a count: every chunk asks, and counting the open deliveries of a large
    # run each time made the run's cost grow with the square of its size.
    still_open = session.scalar(
        select(
            select(Delivery.id)
            .where(Delivery.run_id == run_id, Delivery.state.in_(DELIVERY_OPEN))
            .exists()
        )
    )
    if still_open:
        return False
    counts = _frozen(ledger_counts(session, run_id))
    changed = _move(
        session, run_id, RUN_ACTIVE, state=RunState.DONE, finished_at=utcnow(), **counts
    )
    session.commit()
    return changed


def freeze_counts(session: Session, run_id: int) -> None:
    """Copy the ledger's counts onto the run, for a closed run's history.

    Called again on a cancelled run when a report that was in flight at the cancel finishes.
    """
    counts = _frozen(ledger_counts(session, run_id))
    session.execute(
        update(ReportRun)
        .where(ReportRun.id == run_id)
        .values(**counts)
        .execution_options(synchronize_session=False)
    )
    session.commit()


def note_failure(session: Session, run_id: int, threshold: int) -> bool:
    """Count a failure in a row of the run; True when the circuit breaker should trip."""
    session.execute(
        update(ReportRun)
        .where(ReportRun.id == run_id)
        .values(consecutive_failures=ReportRun.consecutive_failures + 1)
    )
    session.commit()
    count = session.scalar(select(ReportRun.consecutive_failures).where(ReportRun.id == run_id))
    return threshold > 0 and count >= threshold


def state_of(db: Session | Connection, run_id: int) -> str | None:
    """The run's state, read fresh."""
    return _RUN_STATE.scalar(db, {"rid": run_id})
