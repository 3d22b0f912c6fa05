"""The reaper: recovers work that Huey lost (a killed worker, an emptied queue).

It reads and repairs the ledger, and says which runs need driving again; the reap task
enqueues those (webapp/enqueue.py), so this module never touches the queue.
"""

import logging
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from datetime import timedelta

from sqlalchemy import func
from sqlalchemy import select

from webapp.core import workers
from webapp.core.clock import utcnow
from webapp.core.context import Context
from webapp.core.lifecycle import deliveries
from webapp.core.models import Delivery
from webapp.core.models import ReportRun
from webapp.core.sending import finish_if_complete
from webapp.core.states import RUN_ACTIVE
from webapp.core.states import RunState

log = logging.getLogger(__name__)


@dataclass
class Reaped:
    """What one pass did, and the runs to enqueue again."""

    released: int = 0
    unknown: int = 0
    closed: int = 0
    stalled: list[ReportRun] = field(default_factory=list)

    def figures(self) -> dict[str, int]:
        """The pass in numbers, for the log and the task's result."""
        return {
            "released": self.released,
            "unknown": self.unknown,
            "redriven": len(self.stalled),
            "closed": self.closed,
        }


def _stalled(ctx: Context, run: ReportRun, now: datetime, stall: timedelta) -> bool:
    if run.state == RunState.QUEUED:
        return now - run.created_at > stall
    # Progress is read from the ledger, not from the snapshot: a reader can rewrite the
    # snapshot (task-status after Redis lost it) without any report having moved.
    last = ctx.session.scalar(
        select(func.max(Delivery.updated_at)).where(Delivery.run_id == run.id)
    )
    last = max(filter(None, (last, run.started_at, run.created_at)))
    return now - last > stall


def take_back(ctx: Context) -> Reaped:
    """The work of consumers that stopped beating (killed, or their machine gone), at once:
    their claims released, and the runs they were in to be driven again, since the tasks
    they had taken from the queue died with them."""
    result = Reaped()
    # Every live consumer asks after each beat: when none is silent (the usual case) that
    # is one read of the heartbeats, and no write that would wait for a lock.
    dead = list(ctx.session.scalars(workers.silent()))
    ctx.session.commit()
    if not dead:
        return result
    result.released, result.unknown, runs = deliveries.release_claims_of(ctx.session, dead)
    run_ids = runs | workers.take_runs_of_silent(ctx.session)
    if run_ids:
        result.stalled = list(
            ctx.session.scalars(
                select(ReportRun).where(
                    ReportRun.id.in_(run_ids), ReportRun.state == RunState.RUNNING
                )
            )
        )
        log.warning(
            "silent consumers: %d claim(s) released, %d unknown, run(s) %s driven again",
            result.released,
            result.unknown,
            sorted(run.id for run in result.stalled),
        )
    return result


def reap(ctx: Context) -> Reaped:
    """One pass: take back silent consumers' work, release expired leases, close finished
    runs, find stalled ones."""
    result = take_back(ctx)
    released, unknown = deliveries.release_expired(ctx.session)
    result.released += released
    result.unknown += unknown
    # A cancelled run's claims that came back are not sent any more.
    deliveries.cancel_orphans(ctx.session)
    now = utcnow()
    stall = timedelta(seconds=ctx.settings.REAPER_STALL_SECONDS)
    active = ctx.session.scalars(select(ReportRun).where(ReportRun.state.in_(RUN_ACTIVE)))
    for run in list(active):
        if run.state == RunState.RUNNING and finish_if_complete(ctx, run.id):
            result.closed += 1
        elif run not in result.stalled and _stalled(ctx, run, now, stall):
            result.stalled.append(run)
    if any(result.figures().values()):
        log.info("reaper: %s", result.figures())
    return result
