"""A run's progress snapshot: computed from the ledger, kept in Huey's result store.

Workers refresh it; the progress fragment and task-status read it with peek (never pop),
so polls are cheap and repeated polls give the same answer.
"""

import logging

from sqlalchemy import func
from sqlalchemy import select

from webapp.core.clock import utcnow
from webapp.core.models import DELIVERY_STATES
from webapp.core.models import Delivery
from webapp.core.models import ReportRun
from webapp.core.models import User
from webapp.infra.queue import huey

log = logging.getLogger(__name__)

FINISHED_STATES = ("sent", "failed", "skipped", "unknown", "cancelled")


def _key(task_id: str) -> str:
    return f"run-progress:{task_id}"


def ledger_counts(session, run_id: int) -> dict[str, int]:
    """Deliveries of the run by state, every state present (one GROUP BY)."""
    rows = session.execute(
        select(Delivery.state, func.count())
        .where(Delivery.run_id == run_id)
        .group_by(Delivery.state)
    ).all()
    counts = dict.fromkeys(DELIVERY_STATES, 0)
    counts.update({state: n for state, n in rows})
    return counts


def snapshot_of(run: ReportRun, counts: dict[str, int]) -> dict:
    """The snapshot dict for a run and its counts: state, counts, rate and time left."""
    total = sum(counts.values())
    done = sum(counts[s] for s in FINISHED_STATES)
    now = utcnow()
    rate = None
    eta_seconds = None
    if run.started_at and done:
        elapsed = max(((run.finished_at or now) - run.started_at).total_seconds(), 0.001)
        rate = round(done / elapsed, 2)
        if run.is_open and rate > 0:
            eta_seconds = round((total - done) / rate)
    sent, failed = counts["sent"], counts["failed"]
    attempted = sent + failed + counts["unknown"]
    return {
        "task_id": run.task_id,
        "run_id": run.id,
        "month_year": run.month,
        "scope": run.scope,
        "user_id": run.user_id,
        "state": run.state,
        "pause_reason": run.pause_reason,
        "error": run.error,
        "counts": counts,
        "total": total,
        "done": done,
        "percent": round(100 * done / total, 1) if total else (0.0 if run.is_open else 100.0),
        "success_rate": round(100 * sent / attempted, 1) if attempted else 0.0,
        "rate_per_second": rate,
        "eta_seconds": eta_seconds,
        "created_at": run.created_at.isoformat() if run.created_at else None,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "updated_at": now.isoformat(),
        "sent": sent,
        "failed": failed,
    }


def learner_results(session, run_id: int) -> list[dict]:
    """Per learner of the run: the seed's result rows, from the ledger."""
    rows = session.execute(
        select(
            Delivery.user_id, User.username, Delivery.state, Delivery.last_error, Delivery.reason
        )
        .join(User, User.id == Delivery.user_id)
        .where(Delivery.run_id == run_id)
        .order_by(Delivery.user_id)
    ).all()
    return [
        {
            "user_id": uid,
            "username": username,
            "email_status": state,
            "success": state == "sent",
            "error": error or (reason if state != "sent" else None),
        }
        for uid, username, state, error, reason in rows
    ]


def refresh(session, run: ReportRun, *, with_results: bool = False) -> dict:
    """Recompute the run's snapshot from the ledger and publish it."""
    snap = snapshot_of(run, ledger_counts(session, run.id))
    if with_results:
        snap["results"] = learner_results(session, run.id)
    try:
        huey.put(_key(run.task_id), snap)
    except Exception:  # noqa: BLE001
        # The snapshot is a cache of the ledger: a queue outage must not fail the caller
        # (a chunk mid-way, or an API request whose run is already committed).
        log.warning("could not publish the progress of run %s", run.id, exc_info=True)
    return snap


def read(task_id: str) -> dict | None:
    """The published snapshot, without consuming it; None when there is none."""
    return huey.get(_key(task_id), peek=True)


def forget(task_id: str) -> None:
    """Drop a published snapshot (after a run is deleted)."""
    huey.get(_key(task_id))
