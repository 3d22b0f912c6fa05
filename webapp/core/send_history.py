"""Every send of a learner's reports: the delivery of each month where it is now, and the
records it left in the runs it moved on from (webapp/core/lifecycle/moves.py)."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case
from sqlalchemy import literal
from sqlalchemy import select
from sqlalchemy import union_all
from sqlalchemy.orm import Session

from webapp.core.models import Delivery
from webapp.core.models import ReportRun
from webapp.core.models import SendRecord
from webapp.core.states import DeliveryState
from webapp.core.states import RunScope

# A learner's sends listed on their page: years of monthly reports and their resends.
LIMIT = 200


@dataclass(frozen=True)
class Send:
    """One run's go at one learner's report of one month, and how it ended there."""

    month: str
    run_id: int
    scope: RunScope
    state: DeliveryState
    message_id: str
    # When it was sent; otherwise when its outcome was decided (or last changed).
    at: datetime
    sent: bool
    attempts: int
    why: str | None  # the error or reason, when not sent
    current: bool  # the delivery as it is now, rather than a record it left behind

    @property
    def is_resend(self) -> bool:
        return self.scope == RunScope.USER


def _lines(table, current: bool):
    sent = table.state == DeliveryState.SENT
    return select(
        table.month,
        table.run_id,
        table.state,
        table.message_id,
        case((sent, table.sent_at), else_=table.updated_at if current else table.decided_at).label(
            "at"
        ),
        table.attempts,
        table.last_error,
        table.reason,
        literal(current).label("current"),
    )


def sends_of(session: Session, user_id: int, limit: int = LIMIT) -> list[Send]:
    """The learner's sends, newest first: one query over the ledger and the records."""
    both = union_all(
        _lines(Delivery, True).where(Delivery.user_id == user_id),
        _lines(SendRecord, False).where(SendRecord.user_id == user_id),
    ).subquery()
    rows = session.execute(
        select(both, ReportRun.scope)
        .join(ReportRun, ReportRun.id == both.c.run_id)
        .order_by(both.c.month.desc(), both.c.at.desc(), both.c.run_id.desc())
        .limit(limit)
    ).all()
    return [
        Send(
            month=row.month,
            run_id=row.run_id,
            scope=RunScope(row.scope),
            state=DeliveryState(row.state),
            message_id=row.message_id,
            at=row.at,
            sent=row.state == DeliveryState.SENT,
            attempts=row.attempts,
            why=None if row.state == DeliveryState.SENT else (row.last_error or row.reason),
            current=bool(row.current),
        )
        for row in rows
    ]
