"""The monthly schedule: the last full month's run starts by itself on a set day and hour.

Checked every hour rather than fired once, so a run missed while no consumer was up starts
at the next check; a month that has any all-learner run already is left alone.
"""

from datetime import datetime

from sqlalchemy import select

from webapp.core.models import ReportRun
from webapp.core.months import Month
from webapp.core.states import RunScope


def due_month(session, now: datetime, day: int, hour: int) -> Month | None:
    """The month to start now (the last full one), or None when it is not due or has a run."""
    if (now.day, now.hour) < (day, hour):
        return None
    month = Month(now.year, now.month).previous()
    has_run = session.scalar(
        select(ReportRun.id)
        .where(ReportRun.month == str(month), ReportRun.scope == RunScope.ALL)
        .limit(1)
    )
    return None if has_run else month
