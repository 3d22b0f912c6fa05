"""The worker side of a run: begin it, build each chunk's reports with a few queries, hand
the chunk to its sending lanes (webapp/core/lanes.py), and close the run when all is done.

Every step leaves the ledger in a final or retryable state; Huey only rings the bell.
"""

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.core import progress
from webapp.core import suppression
from webapp.core.clock import utcnow
from webapp.core.context import Context
from webapp.core.lanes import ChunkOutcome
from webapp.core.lanes import Job
from webapp.core.lanes import Lane
from webapp.core.lifecycle import runs
from webapp.core.mail.render import letter_for
from webapp.core.models import Delivery
from webapp.core.models import ReportRun
from webapp.core.months import Month
from webapp.core.report import standings
from webapp.core.report.builder import build_reports
from webapp.core.report.standings import QuizBest
from webapp.core.states import DeliveryState
from webapp.core.states import RunScope
from webapp.core.states import RunState
from webapp.infra import database

log = logging.getLogger(__name__)

# How often a run's snapshot is refreshed while its lanes send, by each worker process.
PUBLISH_SECONDS = 0.5

_best_cache: dict[int, dict] = {}
_best_lock = threading.Lock()
# When this process last published each run mid-chunk: the chunks a process sends at once
# share one refresh. Each costs a count of the run's ledger, which grows with the run.
_published_at: dict[int, float] = {}
_published_lock = threading.Lock()


def run_quiz_best(session: Session, run: ReportRun) -> QuizBest:
    """The month's standings, read once per run in this process."""
    with _best_lock:
        cached = _best_cache.get(run.id)
        if cached is None:
            cached = standings.for_month(session, Month.parse(run.month, allow_future=True))
            if len(_best_cache) > 8:
                _best_cache.clear()
            _best_cache[run.id] = cached
        return cached


def pending_chunks(session: Session, run_id: int, chunk_size: int) -> list[list[int]]:
    """The run's pending deliveries as chunks of ids, in learner order."""
    ids = list(
        session.scalars(
            select(Delivery.id)
            .where(Delivery.run_id == run_id, Delivery.state == DeliveryState.PENDING)
            .order_by(Delivery.user_id)
        )
    )
    return [ids[i : i + chunk_size] for i in range(0, len(ids), chunk_size)]


def _fresh_run(session: Session, run_id: int) -> ReportRun | None:
    return session.get(ReportRun, run_id, populate_existing=True)


def begin_run(ctx: Context, run_id: int, chunk_size: int) -> list[list[int]]:
    """Mark a queued run running and split its pending deliveries into chunks of ids.

    A run that is running already (resumed, retried, or re-driven by the reaper) gives its
    pending work as chunks again; claims make sure nothing is sent twice.
    """
    began = runs.begin(ctx.session, run_id)
    run = _fresh_run(ctx.session, run_id)
    if run is None or run.state != RunState.RUNNING:
        return []
    if began and run.scope == RunScope.ALL:
        # The whole month's mail ranks against the month as it stands now, in every worker.
        standings.refresh(ctx.session, Month.parse(run.month, allow_future=True))
        # The run has just written a ledger row per learner. Planned on the statistics of
        # before, PostgreSQL took the (run, state) index for each claim instead of the
        # primary key: 80 ms a claim at 100,000 learners instead of a tenth of one.
        database.refresh_statistics(ctx.session.connection(), "delivery")
        ctx.session.commit()
    chunks = pending_chunks(ctx.session, run_id, chunk_size)
    progress.publish(ctx.store, ctx.session, run)
    if not chunks:
        finish_if_complete(ctx, run_id)
    return chunks


def _due_rows(session: Session, run_id: int, delivery_ids: list[int]):
    now = utcnow()
    return session.execute(
        select(Delivery.id, Delivery.user_id, Delivery.message_id)
        .where(
            Delivery.id.in_(delivery_ids),
            Delivery.run_id == run_id,
            Delivery.state == DeliveryState.PENDING,
            (Delivery.next_attempt_at.is_(None)) | (Delivery.next_attempt_at <= now),
        )
        .order_by(Delivery.user_id)
    ).all()


def send_chunk(
    ctx: Context, run_id: int, delivery_ids: list[int], *, html_override: str | None = None
) -> ChunkOutcome:
    """Build the reports of a chunk of one run's deliveries, then render and mail them over
    up to SMTP_MAX_CONNECTIONS lanes at once.

    html_override replaces the rendered HTML part (the seed's send_report_email task).
    """
    session = ctx.session
    outcome = ChunkOutcome()
    run = session.get(ReportRun, run_id)
    rows = _due_rows(session, run_id, delivery_ids) if run and run.state == RunState.RUNNING else []
    if not rows:
        if run is not None:
            finish_if_complete(ctx, run_id)
        return outcome
    month = Month.parse(run.month, allow_future=True)
    user_ids = [r.user_id for r in rows]
    reports = build_reports(session, user_ids, month, run_quiz_best(session, run))
    # Learners listed since the run started are skipped with the reason, not mailed.
    suppressed = suppression.of_learners(session, user_ids)
    jobs = [
        Job(r.id, r.message_id, reports.get(r.user_id), suppressed.get(r.user_id)) for r in rows
    ]
    count = min(ctx.settings.SMTP_MAX_CONNECTIONS, len(jobs))
    if ctx.settings.SMTP_MAX_CONNECTIONS_TOTAL > 0:
        count = min(count, ctx.settings.SMTP_MAX_CONNECTIONS_TOTAL)
    count = max(1, count)
    stop = threading.Event()
    # The run's own subject and intro, when an admin gave them at the start.
    letter = letter_for(ctx.settings, run.subject, run.intro)
    lanes = [
        Lane(ctx, run_id, month, jobs[i::count], stop, html_override, letter) for i in range(count)
    ]
    with ThreadPoolExecutor(count, thread_name_prefix=f"run{run_id}-lane") as pool:
        running = [pool.submit(lane.run) for lane in lanes]
        # While the lanes send, this thread keeps the run's progress snapshot fresh.
        while wait(running, timeout=PUBLISH_SECONDS).not_done:
            if _due_for_publish(run_id):
                progress.publish(ctx.store, session, _fresh_run(session, run_id))
    for done in running:
        outcome.add(done.result())
    run = _fresh_run(session, run_id)
    if run.state == RunState.CANCELLED:
        # A report in flight when the run was cancelled has finished since: count it.
        runs.freeze_counts(session, run_id)
        run = _fresh_run(session, run_id)
    progress.publish(ctx.store, session, run)
    finish_if_complete(ctx, run_id)
    return outcome


def _due_for_publish(run_id: int) -> bool:
    now = time.monotonic()
    with _published_lock:
        if now - _published_at.get(run_id, 0.0) < PUBLISH_SECONDS:
            return False
        if len(_published_at) > 64:
            _published_at.clear()
        _published_at[run_id] = now
        return True


def finish_if_complete(ctx: Context, run_id: int) -> bool:
    """Close the run when no delivery is open; publish its result with every learner's line."""
    if not runs.close_if_complete(ctx.session, run_id):
        return False
    run = _fresh_run(ctx.session, run_id)
    progress.publish_closed(ctx.store, ctx.session, run)
    with _best_lock:
        _best_cache.pop(run_id, None)
    return True
