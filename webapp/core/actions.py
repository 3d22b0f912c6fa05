"""An operator's actions on a run: pause, resume, cancel, retry its failures.

Each is a transition of the state machine plus the rule that says when it applies; a run in
the wrong state gets RunStateError with the reason in words and is left as it was. Each
change is recorded in the audit trail, as done by `actor`, in the change's transaction.
"""

from sqlalchemy import Row
from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.core.audit import SYSTEM_ACTOR
from webapp.core.audit import Actor
from webapp.core.audit import AuditAction
from webapp.core.audit import record
from webapp.core.audit import run_target
from webapp.core.launch import open_run_for
from webapp.core.lifecycle import deliveries
from webapp.core.lifecycle import runs
from webapp.core.models import Delivery
from webapp.core.models import ReportRun
from webapp.core.models import User
from webapp.core.months import Month
from webapp.core.states import RUN_CLOSED
from webapp.core.states import DeliveryState
from webapp.core.states import RunScope
from webapp.core.states import RunState
from webapp.core.words import plural


class RunStateError(Exception):
    """The run is not in a state that allows this action; the text says why."""


def _not_now(session: Session, run: ReportRun) -> RunStateError:
    session.rollback()
    session.refresh(run)
    return RunStateError(f"This run is {run.state}; that action does not apply.")


def cancel(session: Session, run: ReportRun, actor: Actor = SYSTEM_ACTOR) -> int:
    """Stop sending: mail already sent stays sent, the rest is marked cancelled."""
    cancelled = runs.cancel(session, run.id, actor=actor)
    if cancelled is None:
        raise _not_now(session, run)
    session.refresh(run)
    return cancelled


def pause(session: Session, run: ReportRun, actor: Actor = SYSTEM_ACTOR) -> None:
    """Pause: workers stop before their next mail; resume continues where it stopped."""
    if not runs.pause(session, run.id, actor=actor):
        raise _not_now(session, run)
    session.refresh(run)


def resume(session: Session, run: ReportRun, actor: Actor = SYSTEM_ACTOR) -> None:
    """Resume a paused run; the caller enqueues it again."""
    if not runs.resume(session, run.id, actor=actor):
        raise _not_now(session, run)
    session.refresh(run)


def retry_failed(session: Session, run: ReportRun, actor: Actor = SYSTEM_ACTOR) -> int:
    """Give the run's failed deliveries another try; reopens a finished run. How many."""
    if run.state == RunState.CANCELLED:
        raise RunStateError("This run was cancelled; start a new run for the month instead.")
    count = deliveries.retry_failed(session, run.id)
    if count == 0:
        session.rollback()
        return 0
    if run.state in RUN_CLOSED:
        month = Month.parse(run.month, allow_future=True)
        if run.scope == RunScope.ALL and open_run_for(session, month):
            session.rollback()
            raise RunStateError("Another run for this month is going; retry when it ends.")
        runs.reopen(session, run.id)
    detail = f"{plural(count, 'failed report')} given another try"
    record(session, actor, AuditAction.RUN_RETRIED, run_target(run.id), detail)
    session.commit()
    session.refresh(run)
    return count


def failures(session: Session, run_id: int, limit: int) -> list[Row]:
    """The first `limit` reports retry_failed would send again (the run's own failed
    deliveries, as lifecycle.deliveries.retry_failed takes them), with who and why: name,
    username, last_error, reason. One indexed query."""
    return session.execute(
        select(User.full_name, User.username, Delivery.last_error, Delivery.reason)
        .join(User, User.id == Delivery.user_id)
        .where(Delivery.run_id == run_id, Delivery.state == DeliveryState.FAILED)
        .order_by(Delivery.id)
        .limit(limit)
    ).all()
