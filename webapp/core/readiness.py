"""What /readyz reads of the ledger: that the database answers, the runs waiting, and how
long the oldest delivery due to go has waited."""

from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.core.clock import utcnow
from webapp.core.models import Delivery
from webapp.core.models import ReportRun
from webapp.core.states import RUN_ACTIVE
from webapp.core.states import DeliveryState
from webapp.core.states import RunState


def database_answers(session: Session) -> None:
    """One round trip; raises when the database cannot be reached."""
    session.execute(select(1)).scalar()


def runs_waiting(session: Session) -> int:
    """Runs queued or running: work that needs a worker."""
    return session.scalar(
        select(func.count()).select_from(ReportRun).where(ReportRun.state.in_(RUN_ACTIVE))
    )


def oldest_due_seconds(session: Session) -> float | None:
    """Seconds the oldest pending delivery of a running run has waited (those put off for a
    retry later are not due); None when none is due."""
    now = utcnow()
    oldest = session.scalar(
        select(func.min(Delivery.created_at))
        .join(ReportRun, ReportRun.id == Delivery.run_id)
        .where(
            ReportRun.state == RunState.RUNNING,
            Delivery.state == DeliveryState.PENDING,
            (Delivery.next_attempt_at.is_(None)) | (Delivery.next_attempt_at <= now),
        )
    )
    return None if oldest is None else round((now - oldest).total_seconds(), 1)
