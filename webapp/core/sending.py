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

from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update

from webapp.core import ledger
from webapp.core import progress
from webapp.core.clock import utcnow
from webapp.core.mail.render import InvalidAddressError
from webapp.core.mail.render import build_message
from webapp.core.mail.render import render_report
from webapp.core.mail.smtp import MailError
from webapp.core.mail.smtp import PermanentRecipientError
from webapp.core.mail.smtp import RunStoppingError
from webapp.core.mail.smtp import SmtpSession
from webapp.core.mail.smtp import SmtpSettings
from webapp.core.mail.smtp import UnknownOutcomeError
from webapp.core.models import DELIVERY_OPEN_STATES
from webapp.core.models import Delivery
from webapp.core.models import ReportRun
from webapp.core.months import Month
from webapp.core.report.builder import build_reports
from webapp.core.report.builder import quiz_best_percentages
from webapp.infra.ratelimit import RateLimitTimeout
from webapp.infra.ratelimit import shared_limiter

log = logging.getLogger(__name__)

_best_cache: dict[int, dict] = {}
_best_lock = threading.Lock()


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


def run_quiz_best(session, run: ReportRun) -> dict:
    """The month's per-quiz best percentages, computed once per run in this process."""
    with _best_lock:
        cached = _best_cache.get(run.id)
        if cached is None:
            cached = quiz_best_percentages(session, Month.parse(run.month, allow_future=True))
            if len(_best_cache) > 8:
                _best_cache.clear()
            _best_cache[run.id] = cached
        return cached


def pending_chunks(session, run_id: int, chunk_size: int) -> list[list[int]]:
    """The run's pending deliveries as chunks of ids, in learner order."""
    ids = list(
        session.scalars(
            select(Delivery.id)
            .where(Delivery.run_id == run_id, Delivery.state == "pending")
            .order_by(Delivery.user_id)
        )
    )
    return [ids[i : i + chunk_size] for i in range(0, len(ids), chunk_size)]


def begin_run(session, run_id: int, chunk_size: int) -> list[list[int]]:
    """Mark a queued run running and split its pending deliveries into chunks of ids."""
    session.execute(
        update(ReportRun)
        .where(ReportRun.id == run_id, ReportRun.state == "queued")
        .values(state="running", started_at=utcnow())
    )
    session.commit()
    run = session.get(ReportRun, run_id, populate_existing=True)
    if run is None or run.state != "running":
        return []
    chunks = pending_chunks(session, run_id, chunk_size)
    progress.refresh(session, run)
    if not chunks:
        finish_if_complete(session, run_id)
    return chunks


def _due_rows(session, run_id: int, delivery_ids: list[int]):
    now = utcnow()
    return session.execute(
        select(Delivery.id, Delivery.user_id, Delivery.message_id)
        .where(
            Delivery.id.in_(delivery_ids),
            Delivery.run_id == run_id,
            Delivery.state == "pending",
            (Delivery.next_attempt_at.is_(None)) | (Delivery.next_attempt_at <= now),
        )
        .order_by(Delivery.user_id)
    ).all()


def send_chunk(
    session, config, run_id: int, delivery_ids: list[int], *, html_override: str | None = None
) -> ChunkOutcome:
    """Build, render and mail the reports of a chunk of deliveries of one run.

    html_override replaces the rendered HTML part (the seed's send_report_email task).
    """
    outcome = ChunkOutcome()
    run = session.get(ReportRun, run_id)
    rows = _due_rows(session, run_id, delivery_ids) if run and run.state == "running" else []
    if not rows:
        if run is not None:
            finish_if_complete(session, run_id)
        return outcome
    month = Month.parse(run.month, allow_future=True)
    reports = build_reports(session, [r.user_id for r in rows], month, run_quiz_best(session, run))
    mail_from = config["MAIL_FROM"]
    limiter = shared_limiter(config)
    last_publish = utcnow()
    with SmtpSession(SmtpSettings.from_config(config)) as smtp:
        for index, (delivery_id, user_id, message_id) in enumerate(rows):
            state = ledger.run_state(session, run_id)
            if state != "running":
                outcome.stopped = state
                break
            message, to_addr = _compose(
                session,
                config,
                run_id,
                month,
                delivery_id,
                reports.get(user_id),
                message_id,
                outcome,
                html_override,
            )
            if message is None:
                continue
            ledger.fault_point("after_render")
            if limiter is not None:
                try:
                    # Wait for a slot before claiming, so no claim waits; never for long,
                    # so an hourly cap does not hold a worker thread for an hour.
                    limiter.acquire(timeout=config["LEASE_SECONDS"] / 4)
                except RateLimitTimeout as exc:
                    _defer(session, outcome, rows[index:], exc.retry_after)
                    break
            if not ledger.claim(session, delivery_id, run_id, config["LEASE_SECONDS"]):
                continue
            ledger.fault_point("after_claim")
            result = _deliver(session, smtp, run_id, delivery_id, mail_from, to_addr, message)
            _tally(session, config, outcome, result, run_id, delivery_id)
            if outcome.stopped:
                break
            if (utcnow() - last_publish).total_seconds() >= 0.5:
                progress.refresh(session, session.get(ReportRun, run_id, populate_existing=True))
                last_publish = utcnow()
    run = session.get(ReportRun, run_id, populate_existing=True)
    if run.state == "cancelled":
        # A report in flight when the run was cancelled has finished since: count it.
        from webapp.core.runs import freeze_counts

        freeze_counts(session, run)
    progress.refresh(session, run)
    finish_if_complete(session, run_id)
    return outcome


def _defer(session, outcome: ChunkOutcome, later_rows, delay: float) -> None:
    """Leave the rest of the chunk for when the rate limit has room again."""
    not_before = utcnow() + timedelta(seconds=delay)
    later = [row.id for row in later_rows]
    # next_attempt_at keeps the reaper from re-driving them before then.
    session.execute(
        update(Delivery)
        .where(Delivery.id.in_(later), Delivery.state == "pending")
        .values(next_attempt_at=not_before)
    )
    session.commit()
    outcome.retry_ids.extend(later)
    outcome.retry_delay = max(outcome.retry_delay, delay)
    outcome.stopped = "rate limited"


def _compose(
    session, config, run_id, month, delivery_id, report, message_id, outcome, html_override
):
    """The message bytes and recipient, or None after settling a delivery that cannot go."""
    if report is None:
        ledger.settle_unclaimed(session, delivery_id, run_id, "skipped", "learner no longer exists")
        outcome.skipped += 1
        return None, None
    if report["empty"] and config.get("SKIP_EMPTY_REPORTS"):
        reason = f"no attempts in {month.label}"
        ledger.settle_unclaimed(session, delivery_id, run_id, "skipped", reason)
        outcome.skipped += 1
        return None, None
    rendered = render_report(report)
    if html_override is not None:
        rendered = dataclasses.replace(rendered, html=html_override)
    user = report["user"]
    try:
        message = build_message(
            rendered,
            from_addr=config["MAIL_FROM"],
            to_addr=user["email"],
            to_name=user["full_name"] or user["username"],
            message_id=message_id,
            date=utcnow(),
        )
    except InvalidAddressError as exc:
        ledger.settle_unclaimed(session, delivery_id, run_id, "failed", str(exc))
        outcome.failed += 1
        return None, None
    return message, user["email"]


def _deliver(session, smtp, run_id, delivery_id, mail_from, to_addr, message: bytes):
    """Send one claimed delivery and record the outcome; returns what happened."""

    def before_data():
        # Past this point a lost reply means "maybe delivered": the reaper must not resend.
        ledger.handed_over(session, delivery_id)
        ledger.fault_point("before_data")

    try:
        code, _text = smtp.send(mail_from, to_addr, message, before_data=before_data)
    except ledger.ClaimLost:
        return "lost"
    except UnknownOutcomeError as exc:
        ledger.finish(session, delivery_id, "unknown", smtp_code=exc.code, last_error=exc.reason)
        return "unknown"
    except PermanentRecipientError as exc:
        ledger.finish(session, delivery_id, "failed", smtp_code=exc.code, last_error=exc.reason)
        return "failed"
    except RunStoppingError as exc:
        # Not this learner's fault: give the claim back untouched and pause the whole run.
        ledger.finish(
            session,
            delivery_id,
            "pending",
            attempts=Delivery.attempts - 1,
            smtp_code=exc.code,
            last_error=exc.reason,
        )
        pause_run(session, run_id, exc.reason)
        return "stop"
    except MailError as exc:
        return exc
    ledger.fault_point("after_250_before_commit")
    ledger.mark_sent(
        session,
        delivery_id,
        run_id,
        code,
        zlib.compress(message),
        hashlib.sha256(message).hexdigest(),
    )
    return "sent"


def _tally(session, config, outcome: ChunkOutcome, result, run_id: int, delivery_id: int):
    if result == "sent":
        outcome.sent += 1
        return
    if result == "stop":
        outcome.stopped = "paused"
        return
    if result == "lost":
        return
    if result == "unknown":
        outcome.unknown += 1
    elif result == "failed":
        outcome.failed += 1
        return  # one recipient's 5xx says nothing about the server: not for the breaker
    else:
        delay = _retry_later(session, config, delivery_id, result)
        if delay is None:
            outcome.failed += 1
        else:
            outcome.retry_ids.append(delivery_id)
            outcome.retry_delay = max(outcome.retry_delay, delay)
        if result.step == "rcpt":
            return  # greylisting (451/452 for a recipient) is not a failing server either
    if ledger.note_failure(session, run_id, config["CIRCUIT_BREAKER_FAILURES"]):
        n = config["CIRCUIT_BREAKER_FAILURES"]
        pause_run(
            session,
            run_id,
            f"{n} sends failed in a row; last error: {_last_error(session, delivery_id)}",
        )
        outcome.stopped = "paused"


def _last_error(session, delivery_id: int) -> str:
    return session.scalar(select(Delivery.last_error).where(Delivery.id == delivery_id)) or ""


def _retry_later(session, config, delivery_id: int, exc: MailError) -> float | None:
    """Back to pending with exponential backoff, or failed after the last attempt."""
    attempts = session.scalar(select(Delivery.attempts).where(Delivery.id == delivery_id))
    if attempts >= config["MAX_SEND_ATTEMPTS"]:
        ledger.finish(
            session,
            delivery_id,
            "failed",
            smtp_code=exc.code,
            last_error=f"gave up after {attempts} attempts: {exc.reason}",
        )
        return None
    delay = config["RETRY_BASE_SECONDS"] * (2 ** (attempts - 1))
    ledger.finish(
        session,
        delivery_id,
        "pending",
        smtp_code=exc.code,
        last_error=exc.reason,
        next_attempt_at=utcnow() + timedelta(seconds=delay),
    )
    return delay


def pause_run(session, run_id: int, reason: str) -> None:
    """Pause a running run with the reason shown to admins; workers stop before the next mail."""
    session.execute(
        update(ReportRun)
        .where(ReportRun.id == run_id, ReportRun.state.in_(("queued", "running")))
        .values(state="paused", pause_reason=reason)
    )
    session.commit()
    log.warning("run %s paused: %s", run_id, reason)
    progress.refresh(session, session.get(ReportRun, run_id, populate_existing=True))


def finish_if_complete(session, run_id: int) -> bool:
    """Close the run when no delivery is open; freeze its counts and publish the result."""
    open_count = session.scalar(
        select(func.count())
        .select_from(Delivery)
        .where(Delivery.run_id == run_id, Delivery.state.in_(DELIVERY_OPEN_STATES))
    )
    if open_count:
        return False
    counts = progress.ledger_counts(session, run_id)
    closed = session.execute(
        update(ReportRun)
        .where(ReportRun.id == run_id, ReportRun.state.in_(("queued", "running")))
        .values(
            state="done",
            finished_at=utcnow(),
            total=sum(counts.values()),
            sent=counts["sent"],
            failed=counts["failed"],
            skipped=counts["skipped"],
            unknown=counts["unknown"],
            cancelled=counts["cancelled"],
        )
    ).rowcount
    session.commit()
    if closed:
        run = session.get(ReportRun, run_id, populate_existing=True)
        progress.refresh(session, run, with_results=True)
        with _best_lock:
            _best_cache.pop(run_id, None)
    return bool(closed)
