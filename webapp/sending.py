"""The worker side of a run: claim each delivery, render once, send over one connection.

Every step leaves the ledger in a final or retryable state; Huey only rings the bell.
"""

import dataclasses
import hashlib
import logging
import os
import threading
import zlib
from dataclasses import dataclass
from dataclasses import field
from datetime import timedelta

from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update

from webapp import progress
from webapp.mailer import MailError
from webapp.mailer import PermanentRecipientError
from webapp.mailer import RunStoppingError
from webapp.mailer import SmtpSession
from webapp.mailer import SmtpSettings
from webapp.mailer import TransientMailError
from webapp.mailer import UnknownOutcomeError
from webapp.models import DELIVERY_OPEN_STATES
from webapp.models import Delivery
from webapp.models import ReportRun
from webapp.months import Month
from webapp.rendering import InvalidAddressError
from webapp.rendering import build_message
from webapp.rendering import render_report
from webapp.reports import build_reports
from webapp.reports import quiz_best_percentages
from webapp.timeutil import utcnow

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


def begin_run(session, run_id: int, chunk_size: int) -> list[list[int]]:
    """Mark the run running and split its pending deliveries into chunks of ids."""
    now = utcnow()
    session.execute(
        update(ReportRun)
        .where(ReportRun.id == run_id, ReportRun.state == "queued")
        .values(state="running", started_at=now)
    )
    session.commit()
    run = session.get(ReportRun, run_id)
    if run is None or run.state != "running":
        return []
    ids = list(
        session.scalars(
            select(Delivery.id)
            .where(Delivery.run_id == run_id, Delivery.state == "pending")
            .order_by(Delivery.user_id)
        )
    )
    progress.refresh(session, run)
    if not ids:
        finish_if_complete(session, run_id)
    return [ids[i : i + chunk_size] for i in range(0, len(ids), chunk_size)]


def run_state(session, run_id: int) -> str | None:
    """The run's state, read fresh: the pause/cancel flag checked before each delivery."""
    return session.scalar(select(ReportRun.state).where(ReportRun.id == run_id))


def _claim(session, delivery_id: int, run_id: int, lease_seconds: int) -> bool:
    now = utcnow()
    # Compare-and-set: of any number of workers holding this id, exactly one gets rowcount 1.
    claimed = session.execute(
        update(Delivery)
        .where(
            Delivery.id == delivery_id,
            Delivery.run_id == run_id,
            Delivery.state == "pending",
            (Delivery.next_attempt_at.is_(None)) | (Delivery.next_attempt_at <= now),
        )
        .values(
            state="sending",
            lease_until=now + timedelta(seconds=lease_seconds),
            attempts=Delivery.attempts + 1,
            data_sent=False,
            updated_at=now,
        )
    ).rowcount
    session.commit()
    return claimed == 1


def _finish(session, delivery_id: int, **values) -> None:
    values.setdefault("lease_until", None)
    values["updated_at"] = utcnow()
    session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.state == "sending")
        .values(**values)
    )
    session.commit()


def _fault_point(name: str) -> None:
    # Test-only crash points: the fault-injection suite makes a worker die exactly here.
    if os.environ.get("FAULT_KILL_AT") == name:
        os.kill(os.getpid(), 9)


def send_chunk(
    session, config, run_id: int, delivery_ids: list[int], *, html_override: str | None = None
) -> ChunkOutcome:
    """Build, render and mail the reports of a chunk of deliveries of one run.

    html_override replaces the rendered HTML part (the seed's send_report_email task).
    """
    outcome = ChunkOutcome()
    run = session.get(ReportRun, run_id)
    if run is None or run.state != "running":
        return outcome
    now = utcnow()
    rows = session.execute(
        select(Delivery.id, Delivery.user_id, Delivery.message_id)
        .where(
            Delivery.id.in_(delivery_ids),
            Delivery.run_id == run_id,
            Delivery.state == "pending",
            (Delivery.next_attempt_at.is_(None)) | (Delivery.next_attempt_at <= now),
        )
        .order_by(Delivery.user_id)
    ).all()
    if not rows:
        finish_if_complete(session, run_id)
        return outcome
    month = Month.parse(run.month, allow_future=True)
    reports = build_reports(session, [r.user_id for r in rows], month, run_quiz_best(session, run))
    settings = SmtpSettings.from_config(config)
    mail_from = config["MAIL_FROM"]
    last_publish = utcnow()
    with SmtpSession(settings) as smtp:
        for delivery_id, user_id, message_id in rows:
            state = run_state(session, run_id)
            if state != "running":
                outcome.stopped = state
                break
            report = reports.get(user_id)
            if report is None:
                _settle_unclaimed(
                    session, delivery_id, run_id, "skipped", "learner no longer exists"
                )
                outcome.skipped += 1
                continue
            if report["empty"] and config.get("SKIP_EMPTY_REPORTS"):
                _settle_unclaimed(
                    session, delivery_id, run_id, "skipped", f"no attempts in {month.label}"
                )
                outcome.skipped += 1
                continue
            rendered = render_report(report)
            if html_override is not None:
                rendered = dataclasses.replace(rendered, html=html_override)
            user = report["user"]
            try:
                message = build_message(
                    rendered,
                    from_addr=mail_from,
                    to_addr=user["email"],
                    to_name=user["full_name"] or user["username"],
                    message_id=message_id,
                    date=utcnow(),
                )
            except InvalidAddressError as exc:
                _settle_unclaimed(session, delivery_id, run_id, "failed", str(exc))
                outcome.failed += 1
                continue
            if not _claim(session, delivery_id, run_id, config["LEASE_SECONDS"]):
                continue
            _fault_point("after_claim")
            result = _deliver(session, config, smtp, delivery_id, mail_from, user["email"], message)
            _tally(outcome, result, delivery_id, config)
            if result == "stop":
                outcome.stopped = "paused"
                break
            if (utcnow() - last_publish).total_seconds() >= 0.5:
                progress.refresh(session, session.get(ReportRun, run_id))
                last_publish = utcnow()
    session.expire_all()
    run = session.get(ReportRun, run_id)
    progress.refresh(session, run)
    finish_if_complete(session, run_id)
    return outcome


def _settle_unclaimed(session, delivery_id: int, run_id: int, state: str, reason: str) -> None:
    # For outcomes decided before any SMTP work (no learner, empty month, bad address).
    session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.run_id == run_id, Delivery.state == "pending")
        .values(
            state=state,
            reason=reason,
            last_error=reason if state == "failed" else None,
            updated_at=utcnow(),
        )
    )
    session.commit()


def _tally(outcome: ChunkOutcome, result: str, delivery_id: int, config) -> None:
    if result == "sent":
        outcome.sent += 1
    elif result == "failed":
        outcome.failed += 1
    elif result == "unknown":
        outcome.unknown += 1
    elif isinstance(result, tuple):
        outcome.retry_ids.append(delivery_id)
        outcome.retry_delay = max(outcome.retry_delay, result[1])


def _deliver(session, config, smtp, delivery_id, mail_from, to_addr, message: bytes):
    """Send one claimed delivery and record the outcome; returns what happened."""

    def mark_handed_over():
        # Past this point a lost reply means "maybe delivered": the reaper must not resend.
        session.execute(update(Delivery).where(Delivery.id == delivery_id).values(data_sent=True))
        session.commit()
        _fault_point("before_data")

    try:
        code, _text = smtp.send(mail_from, to_addr, message, before_data=mark_handed_over)
    except UnknownOutcomeError as exc:
        _finish(
            session,
            delivery_id,
            state="unknown",
            smtp_code=exc.code,
            last_error=exc.reason,
            data_sent=True,
        )
        return "unknown"
    except PermanentRecipientError as exc:
        _finish(session, delivery_id, state="failed", smtp_code=exc.code, last_error=exc.reason)
        return "failed"
    except RunStoppingError as exc:
        # Not this learner's fault: give the claim back untouched and pause the whole run.
        _finish(
            session,
            delivery_id,
            state="pending",
            attempts=Delivery.attempts - 1,
            smtp_code=exc.code,
            last_error=exc.reason,
        )
        pause_run(session, _run_of(session, delivery_id), exc.reason)
        return "stop"
    except (TransientMailError, MailError) as exc:
        return _retry_later(session, config, delivery_id, exc)
    _fault_point("after_250_before_commit")
    _finish(
        session,
        delivery_id,
        state="sent",
        smtp_code=code,
        last_error=None,
        sent_at=utcnow(),
        sent_count=Delivery.sent_count + 1,
        message=zlib.compress(message),
        message_sha256=hashlib.sha256(message).hexdigest(),
        data_sent=True,
    )
    return "sent"


def _retry_later(session, config, delivery_id: int, exc: MailError):
    attempts = session.scalar(select(Delivery.attempts).where(Delivery.id == delivery_id))
    if attempts >= config["MAX_SEND_ATTEMPTS"]:
        _finish(
            session,
            delivery_id,
            state="failed",
            smtp_code=exc.code,
            last_error=f"gave up after {attempts} attempts: {exc.reason}",
        )
        return "failed"
    delay = config["RETRY_BASE_SECONDS"] * (2 ** (attempts - 1))
    _finish(
        session,
        delivery_id,
        state="pending",
        smtp_code=exc.code,
        last_error=exc.reason,
        next_attempt_at=utcnow() + timedelta(seconds=delay),
    )
    return ("retry", delay)


def _run_of(session, delivery_id: int) -> int:
    return session.scalar(select(Delivery.run_id).where(Delivery.id == delivery_id))


def pause_run(session, run_id: int, reason: str) -> None:
    """Pause a running run with the reason shown to admins; workers stop before the next mail."""
    session.execute(
        update(ReportRun)
        .where(ReportRun.id == run_id, ReportRun.state.in_(("queued", "running")))
        .values(state="paused", pause_reason=reason)
    )
    session.commit()
    progress.refresh(session, session.get(ReportRun, run_id))


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
        session.expire_all()
        progress.refresh(session, session.get(ReportRun, run_id), with_results=True)
        with _best_lock:
            _best_cache.pop(run_id, None)
    return bool(closed)
