"""The monthly schedule: the last full month's run starts by itself on a set day and hour.

Checked every hour rather than fired once, so a run missed while no consumer was up starts
at the next check. A month is left alone once it has an all-learner run that is going or
done, or a run the schedule started itself in any state: an admin who cancels that one
means it. A run someone else started and then cancelled (or that failed) does not count,
so it never keeps the month from its scheduled run; a month where everyone already has
their report is refused by launch.start_all (NothingToSend) without writing a run.
"""

import logging
from datetime import datetime

from sqlalchemy import or_
from sqlalchemy import select

from webapp.core import launch
from webapp.core.clock import utcnow
from webapp.core.context import Context
from webapp.core.models import ReportRun
from webapp.core.months import Month
from webapp.core.states import RUN_OPEN
from webapp.core.states import RunScope
from webapp.core.states import RunState

log = logging.getLogger(__name__)


def due_month(session, now: datetime, day: int, hour: int) -> Month | None:
    """The month to start now (the last full one), or None when it is not due or has a run."""
    if (now.day, now.hour) < (day, hour):
        return None
    month = Month(now.year, now.month).previous()
    has_run = session.scalar(
        select(ReportRun.id)
        .where(
            ReportRun.month == str(month),
            ReportRun.scope == RunScope.ALL,
            or_(
                ReportRun.state.in_((*RUN_OPEN, RunState.DONE)),
                # Started by the product itself (no account): the schedule's own run.
                ReportRun.started_by_id.is_(None),
            ),
        )
        .limit(1)
    )
    return None if has_run else month


def start_due(ctx: Context) -> ReportRun | None:
    """Start the last full month's run if the schedule is on and it is due; the committed
    run for the caller to enqueue, or None (not due, a run is going, or nothing to send)."""
    settings = ctx.settings
    if not settings.MONTHLY_RUN:
        return None
    now = utcnow()
    month = due_month(ctx.session, now, settings.MONTHLY_RUN_DAY, settings.MONTHLY_RUN_HOUR)
    if month is None:
        return None
    try:
        run = launch.start_all(
            ctx.session,
            month,
            mail_from=settings.MAIL_FROM,
            skip_empty=settings.SKIP_EMPTY_REPORTS,
        )
    except (launch.RunConflict, launch.NothingToSend) as exc:
        # Nothing written; checked again at the next hour, when a failed learner may be
        # mailable again.
        log.info("monthly run for %s: %s", month, exc)
        return None
    log.info("monthly run for %s started: run %s, %d learner(s)", month, run.id, run.total)
    return run
