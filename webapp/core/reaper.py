"""The reaper: recovers work that Huey lost (a killed worker, an emptied queue).

Runs at consumer start and periodically on the one consumer that runs periodic tasks.
"""

import logging
from datetime import timedelta

from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update

from webapp.core import progress
from webapp.core import sending
from webapp.core.clock import utcnow
from webapp.core.models import Delivery
from webapp.core.models import ReportRun

log = logging.getLogger(__name__)

# How long a run may show no progress before its pending work is enqueued again
# (REAPER_STALL_SECONDS; the fault-injection tests use a couple of seconds).
STALL_SECONDS = 60


def release_expired_leases(session) -> tuple[int, int]:
    """Expired claims go back to pending, or to unknown if the data may have reached SMTP."""
    # updated_at is left as it was: the reaper's bookkeeping is not progress, and the stall
    # check below reads progress from it.
    now = utcnow()
    expired = Delivery.state == "sending", Delivery.lease_until < now
    back = session.execute(
        update(Delivery)
        .where(*expired, Delivery.data_sent.is_(False))
        .values(
            state="pending",
            lease_until=None,
            updated_at=Delivery.updated_at,
            last_error="worker stopped before sending; queued again",
        )
    ).rowcount
    unknown = session.execute(
        update(Delivery)
        .where(*expired, Delivery.data_sent.is_(True))
        .values(
            state="unknown",
            lease_until=None,
            updated_at=Delivery.updated_at,
            last_error="worker stopped after the message was handed to the SMTP server; "
            "it may have arrived. Use Resend to send it again.",
        )
    ).rowcount
    # A cancelled run's claims that come back are not sent any more.
    cancelled_runs = select(ReportRun.id).where(ReportRun.state == "cancelled")
    session.execute(
        update(Delivery)
        .where(Delivery.state == "pending", Delivery.run_id.in_(cancelled_runs))
        .values(state="cancelled", reason="run cancelled by an admin")
    )
    session.commit()
    return back, unknown


def _stalled(session, run: ReportRun, now, stall: timedelta) -> bool:
    # Progress is read from the ledger, not from the snapshot: a reader can rewrite the
    # snapshot (task-status after Redis lost it) without any report having moved.
    last = session.scalar(select(func.max(Delivery.updated_at)).where(Delivery.run_id == run.id))
    last = max(filter(None, (last, run.started_at, run.created_at)))
    return now - last > stall


def reap(session, config) -> dict:
    """One pass: release leases, re-drive stalled runs, close finished ones."""
    import tasks

    back, unknown = release_expired_leases(session)
    now = utcnow()
    stall = timedelta(seconds=config.get("REAPER_STALL_SECONDS", STALL_SECONDS))
    redriven = closed = 0
    runs = session.scalars(select(ReportRun).where(ReportRun.state.in_(("queued", "running"))))
    for run in list(runs):
        if run.state == "queued":
            if now - run.created_at > stall:
                tasks.process_all_reports(run.month, run.id)
                redriven += 1
            continue
        if sending.finish_if_complete(session, run.id):
            closed += 1
            continue
        if _stalled(session, run, now, stall):
            for ids in sending.pending_chunks(session, run.id, config["REPORT_CHUNK_SIZE"]):
                tasks.send_report_chunk(run.id, ids)
            progress.refresh(session, run)
            redriven += 1
    result = {"released": back, "unknown": unknown, "redriven": redriven, "closed": closed}
    if any(result.values()):
        log.info("reaper: %s", result)
    return result
