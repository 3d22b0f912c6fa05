"""The worker side of a run: render once, claim each delivery, send over one connection.

Every step leaves the ledger in a final or retryable state; Huey only rings the bell.
"""

import dataclasses
import hashlib
import logging
import threading
import zlib
from dataclasses import dataclass
from dataclasses import field
from datetime import timedelta
from enum import Enum

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.core import progress
from webapp.core.clock import utcnow
from webapp.core.context import Context
from webapp.core.lifecycle import deliveries
from webapp.core.lifecycle import runs
from webapp.core.mail.mime import InvalidAddressError
from webapp.core.mail.mime import build_message
from webapp.core.mail.render import render_report
from webapp.core.mail.smtp import SmtpSession
from webapp.core.mail.smtp_errors import MailError
from webapp.core.mail.smtp_errors import PermanentRecipientError
from webapp.core.mail.smtp_errors import RunStoppingError
from webapp.core.mail.smtp_errors import UnknownOutcomeError
from webapp.core.mail.smtp_settings import SmtpSettings
from webapp.core.models import Delivery
from webapp.core.models import ReportRun
from webapp.core.months import Month
from webapp.core.report.builder import build_reports
from webapp.core.report.builder import quiz_best_percentages
from webapp.core.states import DeliveryState
from webapp.core.states import RunState
from webapp.infra import failpoints
from webapp.infra.ratelimit import RateLimitTimeout

log = logging.getLogger(__name__)

_best_cache: dict[int, dict] = {}
_best_lock = threading.Lock()


class Delivered(Enum):
    """What one send attempt came to, for the chunk's tally."""

    SENT = "sent"
    FAILED = "failed"  # a permanent refusal of this recipient
    UNKNOWN = "unknown"  # the reply was lost after the data: maybe delivered
    RUN_STOPPED = "run stopped"  # settings or server policy block every message: paused
    CLAIM_LOST = "claim lost"  # the reaper or a stopping worker took the claim back


@dataclass
class ChunkOutcome:
    """What one chunk did, and which deliveries want another try later."""

    sent: int = 0
    failed: int = 0
    skipped: int = 0
    unknown: int = 0
    retry_ids: list[int] = field(default_factory=list)
    retry_delay: float = 0.0
    stopped: str | None = None


def run_quiz_best(session: Session, run: ReportRun) -> dict:
    """The month's per-quiz best percentages, computed once per run in this process."""
    with _best_lock:
        cached = _best_cache.get(run.id)
        if cached is None:
            cached = quiz_best_percentages(session, Month.parse(run.month, allow_future=True))
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
    runs.begin(ctx.session, run_id)
    run = _fresh_run(ctx.session, run_id)
    if run is None or run.state != RunState.RUNNING:
        return []
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
    """Build, render and mail the reports of a chunk of deliveries of one run.

    html_override replaces the rendered HTML part (the seed's send_report_email task).
    """
    session, settings = ctx.session, ctx.settings
    outcome = ChunkOutcome()
    run = session.get(ReportRun, run_id)
    rows = _due_rows(session, run_id, delivery_ids) if run and run.state == RunState.RUNNING else []
    if not rows:
        if run is not None:
            finish_if_complete(ctx, run_id)
        return outcome
    month = Month.parse(run.month, allow_future=True)
    reports = build_reports(session, [r.user_id for r in rows], month, run_quiz_best(session, run))
    last_publish = utcnow()
    with SmtpSession(SmtpSettings.from_settings(settings)) as smtp:
        for index, (delivery_id, user_id, message_id) in enumerate(rows):
            state = runs.state_of(session, run_id)
            if state != RunState.RUNNING:
                outcome.stopped = state
                break
            report = reports.get(user_id)
            composed = _compose(ctx, run_id, month, delivery_id, report, message_id, html_override)
            if isinstance(composed, DeliveryState):
                outcome.skipped += composed == DeliveryState.SKIPPED
                outcome.failed += composed == DeliveryState.FAILED
                continue
            message, to_addr = composed
            failpoints.hit("after_render")
            if ctx.limiter is not None:
                try:
                    # Wait for a slot before claiming, so no claim waits; never for long,
                    # so an hourly cap does not hold a worker thread for an hour.
                    ctx.limiter.acquire(timeout=settings.LEASE_SECONDS / 4)
                except RateLimitTimeout as exc:
                    _defer(session, outcome, rows[index:], exc.retry_after)
                    break
            if not deliveries.claim(session, delivery_id, run_id, settings.LEASE_SECONDS):
                continue
            failpoints.hit("after_claim")
            result = _deliver(ctx, smtp, run_id, delivery_id, to_addr, message)
            _tally(ctx, outcome, result, run_id, delivery_id)
            if outcome.stopped:
                break
            if (utcnow() - last_publish).total_seconds() >= 0.5:
                progress.publish(ctx.store, session, _fresh_run(session, run_id))
                last_publish = utcnow()
    run = _fresh_run(session, run_id)
    if run.state == RunState.CANCELLED:
        # A report in flight when the run was cancelled has finished since: count it.
        runs.freeze_counts(session, run_id)
        run = _fresh_run(session, run_id)
    progress.publish(ctx.store, session, run)
    finish_if_complete(ctx, run_id)
    return outcome


def _defer(session: Session, outcome: ChunkOutcome, later_rows, delay: float) -> None:
    """Leave the rest of the chunk for when the rate limit has room again."""
    later = [row.id for row in later_rows]
    # next_attempt_at keeps the reaper from re-driving them before then.
    deliveries.defer(session, later, utcnow() + timedelta(seconds=delay))
    outcome.retry_ids.extend(later)
    outcome.retry_delay = max(outcome.retry_delay, delay)
    outcome.stopped = "rate limited"


def _compose(ctx: Context, run_id, month: Month, delivery_id, report, message_id, html_override):
    """(message bytes, recipient), or the state a delivery that cannot go was settled in."""
    if report is None:
        reason = "learner no longer exists"
        deliveries.settle(ctx.session, delivery_id, run_id, DeliveryState.SKIPPED, reason)
        return DeliveryState.SKIPPED
    if report.empty and ctx.settings.SKIP_EMPTY_REPORTS:
        reason = f"no attempts in {month.label}"
        deliveries.settle(ctx.session, delivery_id, run_id, DeliveryState.SKIPPED, reason)
        return DeliveryState.SKIPPED
    rendered = render_report(report)
    if html_override is not None:
        rendered = dataclasses.replace(rendered, html=html_override)
    learner = report.learner
    try:
        message = build_message(
            rendered,
            from_addr=ctx.settings.MAIL_FROM,
            to_addr=learner.email,
            to_name=learner.display_name,
            message_id=message_id,
            date=utcnow(),
        )
    except InvalidAddressError as exc:
        deliveries.settle(ctx.session, delivery_id, run_id, DeliveryState.FAILED, str(exc))
        return DeliveryState.FAILED
    return message, learner.email


def _deliver(
    ctx: Context, smtp, run_id, delivery_id, to_addr, message: bytes
) -> Delivered | MailError:
    """Send one claimed delivery and record the outcome; a transient MailError is returned."""
    session = ctx.session

    def before_data():
        # Past this point a lost reply means "maybe delivered": the reaper must not resend.
        deliveries.hand_over(session, delivery_id)
        failpoints.hit("before_data")

    try:
        code, _text = smtp.send(ctx.settings.MAIL_FROM, to_addr, message, before_data=before_data)
    except deliveries.ClaimLost:
        return Delivered.CLAIM_LOST
    except UnknownOutcomeError as exc:
        deliveries.record_outcome(
            session, delivery_id, DeliveryState.UNKNOWN, smtp_code=exc.code, last_error=exc.reason
        )
        return Delivered.UNKNOWN
    except PermanentRecipientError as exc:
        deliveries.record_outcome(
            session, delivery_id, DeliveryState.FAILED, smtp_code=exc.code, last_error=exc.reason
        )
        return Delivered.FAILED
    except RunStoppingError as exc:
        # Not this learner's fault: give the claim back untouched and pause the whole run.
        deliveries.record_outcome(
            session,
            delivery_id,
            DeliveryState.PENDING,
            attempts=Delivery.attempts - 1,
            smtp_code=exc.code,
            last_error=exc.reason,
        )
        pause_run(ctx, run_id, exc.reason)
        return Delivered.RUN_STOPPED
    except MailError as exc:
        return exc
    failpoints.hit("after_250_before_commit")
    deliveries.mark_sent(
        session,
        delivery_id,
        run_id,
        code,
        zlib.compress(message),
        hashlib.sha256(message).hexdigest(),
    )
    return Delivered.SENT


def _tally(ctx: Context, outcome: ChunkOutcome, result, run_id: int, delivery_id: int):
    if result == Delivered.SENT:
        outcome.sent += 1
        return
    if result == Delivered.RUN_STOPPED:
        outcome.stopped = RunState.PAUSED
        return
    if result == Delivered.CLAIM_LOST:
        return
    if result == Delivered.UNKNOWN:
        outcome.unknown += 1
    elif result == Delivered.FAILED:
        outcome.failed += 1
        return  # one recipient's 5xx says nothing about the server: not for the breaker
    else:
        delay = _retry_later(ctx, delivery_id, result)
        if delay is None:
            outcome.failed += 1
        else:
            outcome.retry_ids.append(delivery_id)
            outcome.retry_delay = max(outcome.retry_delay, delay)
        if result.step == "rcpt":
            return  # greylisting (451/452 for a recipient) is not a failing server either
    threshold = ctx.settings.CIRCUIT_BREAKER_FAILURES
    if runs.note_failure(ctx.session, run_id, threshold):
        last_error = _last_error(ctx.session, delivery_id)
        pause_run(ctx, run_id, f"{threshold} sends failed in a row; last error: {last_error}")
        outcome.stopped = RunState.PAUSED


def _last_error(session: Session, delivery_id: int) -> str:
    return session.scalar(select(Delivery.last_error).where(Delivery.id == delivery_id)) or ""


def _retry_later(ctx: Context, delivery_id: int, exc: MailError) -> float | None:
    """Back to pending with exponential backoff, or failed after the last attempt."""
    session, settings = ctx.session, ctx.settings
    attempts = session.scalar(select(Delivery.attempts).where(Delivery.id == delivery_id))
    if attempts >= settings.MAX_SEND_ATTEMPTS:
        deliveries.record_outcome(
            session,
            delivery_id,
            DeliveryState.FAILED,
            smtp_code=exc.code,
            last_error=f"gave up after {attempts} attempts: {exc.reason}",
        )
        return None
    delay = settings.RETRY_BASE_SECONDS * (2 ** (attempts - 1))
    deliveries.record_outcome(
        session,
        delivery_id,
        DeliveryState.PENDING,
        smtp_code=exc.code,
        last_error=exc.reason,
        next_attempt_at=utcnow() + timedelta(seconds=delay),
    )
    return delay


def pause_run(ctx: Context, run_id: int, reason: str) -> None:
    """Pause a running run with the reason shown to admins; workers stop before the next mail."""
    runs.pause(ctx.session, run_id, reason)
    log.warning("run %s paused: %s", run_id, reason)
    progress.publish(ctx.store, ctx.session, _fresh_run(ctx.session, run_id))


def finish_if_complete(ctx: Context, run_id: int) -> bool:
    """Close the run when no delivery is open; publish its result with every learner's line."""
    if not runs.close_if_complete(ctx.session, run_id):
        return False
    run = _fresh_run(ctx.session, run_id)
    progress.publish(ctx.store, ctx.session, run, with_results=True)
    with _best_lock:
        _best_cache.pop(run_id, None)
    return True
