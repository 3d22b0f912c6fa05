"""A sending lane: one SMTP connection and one database connection working through its share
of a chunk, one learner at a time, while the chunk's other lanes do the same beside it.

Against a relay across a network a message is mostly waiting for replies, so several lanes
keep several messages in flight. Each step of each message leaves the ledger in a final or
retryable state, exactly as one lane alone would.
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

from sqlalchemy import Connection
from sqlalchemy import select

from webapp.core import suppression
from webapp.core import unsubscribe
from webapp.core.audit import Actor
from webapp.core.clock import utcnow
from webapp.core.context import Context
from webapp.core.lifecycle import deliveries
from webapp.core.lifecycle import runs
from webapp.core.mail.mime import InvalidAddressError
from webapp.core.mail.mime import build_message
from webapp.core.mail.render import PLAIN
from webapp.core.mail.render import Letter
from webapp.core.mail.render import render_report
from webapp.core.mail.smtp import SmtpSession
from webapp.core.mail.smtp_errors import MailboxUnknownError
from webapp.core.mail.smtp_errors import MailError
from webapp.core.mail.smtp_errors import PermanentRecipientError
from webapp.core.mail.smtp_errors import RunStoppingError
from webapp.core.mail.smtp_errors import UnknownOutcomeError
from webapp.core.models import Delivery
from webapp.core.months import Month
from webapp.core.report.data import Report
from webapp.core.states import DeliveryState
from webapp.core.states import RunState
from webapp.core.states import SuppressionReason
from webapp.core.words import plural
from webapp.infra import failpoints
from webapp.infra import logs
from webapp.infra.ratelimit import RateLimitTimeout

log = logging.getLogger(__name__)

# zlib's fastest level: the stored copy of a mailed message is read back by the preview only,
# and at level 6 compressing it cost more than building it. zlib lets go of the GIL meanwhile.
STORED_COMPRESSION = 1
# Who the audit trail and the suppression list name for a hard bounce at RCPT.
BOUNCE_ACTOR = Actor("mail server (hard bounce at RCPT)")


class Delivered(Enum):
    """What one send attempt came to, for the chunk's tally."""

    SENT = "sent"
    FAILED = "failed"  # a permanent refusal of this recipient
    UNKNOWN = "unknown"  # the reply was lost after the data: maybe delivered
    RUN_STOPPED = "run stopped"  # settings or server policy block every message: paused
    CLAIM_LOST = "claim lost"  # the reaper or a stopping worker took the claim back


@dataclass
class ChunkOutcome:
    """What a chunk (or one lane of it) did, and which deliveries want another try later."""

    sent: int = 0
    failed: int = 0
    skipped: int = 0
    unknown: int = 0
    retry_ids: list[int] = field(default_factory=list)
    retry_delay: float = 0.0
    stopped: str | None = None

    def add(self, other: "ChunkOutcome") -> None:
        """Count another lane's outcome in this one."""
        self.sent += other.sent
        self.failed += other.failed
        self.skipped += other.skipped
        self.unknown += other.unknown
        self.retry_ids.extend(other.retry_ids)
        self.retry_delay = max(self.retry_delay, other.retry_delay)
        self.stopped = self.stopped or other.stopped


@dataclass(frozen=True)
class Job:
    """One learner's delivery as a lane gets it: ids, the report already built, and why the
    learner is on the suppression list, if they are (then nothing is sent)."""

    delivery_id: int
    message_id: str
    report: Report | None
    suppressed: str | None = None


@dataclass
class Lane:
    """A lane's share of one chunk of one run, and what it needs on the way."""

    ctx: Context
    run_id: int
    month: Month
    jobs: list[Job]
    stop: threading.Event  # set by any lane that stops: the others stop before their next mail
    html_override: str | None = None
    letter: Letter = PLAIN
    pauses: list[str] = field(default_factory=list)  # reasons this lane paused the run with

    def run(self) -> ChunkOutcome:
        """Work through the jobs over a connection of the pool; what came of them."""
        try:
            # The SMTP slot first: a lane waiting for one holds no database connection.
            with (
                logs.about(run_id=self.run_id),
                self.ctx.smtp.session() as smtp,
                self.ctx.connect() as db,
            ):
                return self._work(db, smtp)
        except BaseException:
            self.stop.set()
            raise

    def _work(self, db: Connection, smtp: SmtpSession) -> ChunkOutcome:
        outcome = ChunkOutcome()
        for index, job in enumerate(self.jobs):
            if self.stop.is_set():
                break
            learner = job.report.learner.id if job.report else None
            with logs.about(delivery_id=job.delivery_id, user_id=learner):
                go_on = self._one(db, smtp, outcome, index, job)
            if not go_on:
                break
        return outcome

    def _one(self, db: Connection, smtp: SmtpSession, outcome: ChunkOutcome, index, job) -> bool:
        """Compose, claim, send and record one job; False when the lane must stop."""
        settings = self.ctx.settings
        composed = self._compose(db, job)
        if isinstance(composed, DeliveryState):
            outcome.skipped += composed == DeliveryState.SKIPPED
            outcome.failed += composed == DeliveryState.FAILED
            return True
        message, to_addr = composed
        failpoints.hit("after_render")
        if self.ctx.limiter is not None:
            try:
                # Wait for a slot before claiming, so no claim waits; never for long,
                # so an hourly cap does not hold a worker thread for an hour.
                self.ctx.limiter.acquire(timeout=settings.LEASE_SECONDS / 4)
            except RateLimitTimeout as exc:
                _defer(db, outcome, self.jobs[index:], exc.retry_after)
                log.info(
                    "rate limit: the lane's last %d wait %.1f s",
                    len(self.jobs) - index,
                    exc.retry_after,
                )
                return False
        if not deliveries.claim(db, job.delivery_id, self.run_id, settings.LEASE_SECONDS):
            # Refused: taken by another worker, or the run was paused or cancelled.
            state = runs.state_of(db, self.run_id)
            if state != RunState.RUNNING:
                outcome.stopped = state
                return False
            return True
        failpoints.hit("after_claim")
        result = self._deliver(db, smtp, job.delivery_id, job.report.learner.id, to_addr, message)
        self._tally(db, outcome, result, job.delivery_id)
        if outcome.stopped:
            self.stop.set()
            return False
        return True

    def _compose(self, db: Connection, job: Job):
        """(message bytes, recipient), or the state a delivery that cannot go was settled in."""
        report = job.report
        if report is None:
            reason = "learner no longer exists"
            deliveries.settle(db, job.delivery_id, self.run_id, DeliveryState.SKIPPED, reason)
            log.info("skipped: %s", reason)
            return DeliveryState.SKIPPED
        if job.suppressed:
            # Listed after the run started (an unsubscribe or a bounce meanwhile).
            deliveries.settle(
                db, job.delivery_id, self.run_id, DeliveryState.SKIPPED, job.suppressed
            )
            log.info("skipped: %s", job.suppressed)
            return DeliveryState.SKIPPED
        if report.empty and self.ctx.settings.SKIP_EMPTY_REPORTS:
            reason = f"no attempts in {self.month.label}"
            deliveries.settle(db, job.delivery_id, self.run_id, DeliveryState.SKIPPED, reason)
            log.info("skipped: %s", reason)
            return DeliveryState.SKIPPED
        rendered = render_report(report, self.letter)
        if self.html_override is not None:
            rendered = dataclasses.replace(rendered, html=self.html_override)
        learner = report.learner
        try:
            message = build_message(
                rendered,
                from_addr=self.ctx.settings.MAIL_FROM,
                to_addr=learner.email,
                to_name=learner.display_name,
                message_id=job.message_id,
                date=utcnow(),
                extra_headers=unsubscribe.headers(rendered.unsubscribe_url),
            )
        except InvalidAddressError as exc:
            deliveries.settle(db, job.delivery_id, self.run_id, DeliveryState.FAILED, str(exc))
            log.warning("failed: %s", exc)
            return DeliveryState.FAILED
        return message, learner.email

    def _deliver(
        self, db, smtp, delivery_id, user_id, to_addr, message: bytes
    ) -> Delivered | MailError:
        """Send one claimed delivery and record the outcome; a transient MailError is returned."""

        def before_data():
            # Past this point a lost reply means "maybe delivered": the reaper must not resend.
            deliveries.hand_over(db, delivery_id)
            failpoints.hit("before_data")

        mail_from = self.ctx.settings.MAIL_FROM
        try:
            code, _text = smtp.send(
                mail_from, to_addr, message, before_data=before_data, canonical=True
            )
        except deliveries.ClaimLost:
            return Delivered.CLAIM_LOST
        except UnknownOutcomeError as exc:
            deliveries.record_outcome(
                db, delivery_id, DeliveryState.UNKNOWN, smtp_code=exc.code, last_error=exc.reason
            )
            log.warning("outcome unknown: %s", exc.reason)
            return Delivered.UNKNOWN
        except MailboxUnknownError as exc:
            # The address does not exist: listed at once, in the outcome's own transaction.
            suppression.add(
                db, user_id, to_addr, SuppressionReason.HARD_BOUNCE, exc.reason, BOUNCE_ACTOR
            )
            deliveries.record_outcome(
                db,
                delivery_id,
                DeliveryState.FAILED,
                smtp_code=exc.code,
                last_error=f"{exc.reason}; the address is on the suppression list now",
            )
            log.warning("refused by the server, address suppressed: %s", exc.reason)
            return Delivered.FAILED
        except PermanentRecipientError as exc:
            deliveries.record_outcome(
                db, delivery_id, DeliveryState.FAILED, smtp_code=exc.code, last_error=exc.reason
            )
            log.warning("refused by the server: %s", exc.reason)
            return Delivered.FAILED
        except RunStoppingError as exc:
            # Not this learner's fault: give the claim back untouched and pause the whole run.
            deliveries.record_outcome(
                db,
                delivery_id,
                DeliveryState.PENDING,
                attempts=Delivery.attempts - 1,
                smtp_code=exc.code,
                last_error=exc.reason,
            )
            self._pause(db, exc.reason)
            return Delivered.RUN_STOPPED
        except MailError as exc:
            log.info("not sent this time: %s", exc.reason)
            return exc
        failpoints.hit("after_250_before_commit")
        stored = zlib.compress(message, STORED_COMPRESSION)
        sha = hashlib.sha256(message).hexdigest()
        deliveries.mark_sent(db, delivery_id, self.run_id, code, stored, sha)
        log.debug("sent (%s)", code)
        return Delivered.SENT

    def _tally(self, db, outcome: ChunkOutcome, result, delivery_id: int) -> None:
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
            delay = _retry_later(db, self.ctx.settings, delivery_id, result)
            if delay is None:
                outcome.failed += 1
            else:
                outcome.retry_ids.append(delivery_id)
                outcome.retry_delay = max(outcome.retry_delay, delay)
            if result.step == "rcpt":
                return  # greylisting (451/452 for a recipient) is not a failing server either
        threshold = self.ctx.settings.CIRCUIT_BREAKER_FAILURES
        if runs.note_failure(db, self.run_id, threshold):
            last_error = _last_error(db, delivery_id)
            self._pause(
                db, f"{plural(threshold, 'send')} failed in a row; last error: {last_error}"
            )
            outcome.stopped = RunState.PAUSED

    def _pause(self, db: Connection, reason: str) -> None:
        """Pause the run for every worker; the chunk publishes the new state when it ends."""
        if runs.pause(db, self.run_id, reason):
            log.warning("run %s paused: %s", self.run_id, reason)
        self.pauses.append(reason)


def _defer(db: Connection, outcome: ChunkOutcome, later_jobs: list[Job], delay: float) -> None:
    """Leave the rest of the lane for when the rate limit has room again."""
    later = [job.delivery_id for job in later_jobs]
    # next_attempt_at keeps the reaper from re-driving them before then.
    deliveries.defer(db, later, utcnow() + timedelta(seconds=delay))
    outcome.retry_ids.extend(later)
    outcome.retry_delay = max(outcome.retry_delay, delay)
    outcome.stopped = "rate limited"


def _last_error(db: Connection, delivery_id: int) -> str:
    return db.scalar(select(Delivery.last_error).where(Delivery.id == delivery_id)) or ""


def _retry_later(db: Connection, settings, delivery_id: int, exc: MailError) -> float | None:
    """Back to pending with exponential backoff, or failed after the last attempt."""
    attempts = db.scalar(select(Delivery.attempts).where(Delivery.id == delivery_id))
    if attempts >= settings.MAX_SEND_ATTEMPTS:
        deliveries.record_outcome(
            db,
            delivery_id,
            DeliveryState.FAILED,
            smtp_code=exc.code,
            # "send attempts": on a quiz product's pages, "attempts" alone are a learner's.
            last_error=f"gave up after {plural(attempts, 'send attempt')}: {exc.reason}",
        )
        log.warning("failed: gave up after %d send attempts: %s", attempts, exc.reason)
        return None
    delay = settings.RETRY_BASE_SECONDS * (2 ** (attempts - 1))
    deliveries.record_outcome(
        db,
        delivery_id,
        DeliveryState.PENDING,
        smtp_code=exc.code,
        last_error=exc.reason,
        next_attempt_at=utcnow() + timedelta(seconds=delay),
    )
    return delay
