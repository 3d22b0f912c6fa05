"""A run's ledger written straight into the database, for the charts' tests."""

import uuid
from datetime import datetime

from sqlalchemy.orm import Session

from tests.helpers.factories import make_user
from webapp.core.models import Delivery
from webapp.core.models import ReportRun
from webapp.core.months import Month


def ledger_run(
    session: Session,
    month: Month,
    rows: list[dict],
    *,
    start: datetime,
    end: datetime | None = None,
    state: str = "done",
) -> ReportRun:
    """A run of `month` started at `start`, with a new learner's delivery for each of `rows`
    (the delivery's columns). Committed."""
    run = ReportRun(
        task_id=str(uuid.uuid4()),
        month=str(month),
        state=state,
        created_at=start,
        started_at=start,
        finished_at=end,
    )
    session.add(run)
    session.flush()
    for row in rows:
        user = make_user(session)
        session.add(
            Delivery(
                user_id=user.id,
                month=str(month),
                run_id=run.id,
                message_id=f"<{uuid.uuid4().hex}@quiz.example>",
                **row,
            )
        )
    session.commit()
    return run


def states(**counts: int) -> list[dict]:
    """Delivery rows in these states: states(sent=3, failed=1)."""
    return [{"state": state} for state, n in counts.items() for _ in range(n)]
