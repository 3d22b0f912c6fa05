"""Writes to the delivery ledger: claim by compare-and-set, record outcomes, release claims.

Each function commits at once, so what the ledger says is true even if the worker dies on
the next line.
"""

import os
import threading
from datetime import timedelta

from sqlalchemy import update

from webapp.models import Delivery
from webapp.models import ReportRun
from webapp.timeutil import utcnow

# Claims held by this process, so an interrupted consumer can give them back at once.
_held: set[int] = set()
_held_lock = threading.Lock()
_sent_commits = 0


class ClaimLost(Exception):
    """The claim was taken back (reaper or shutdown) before the message was handed over."""


def fault_point(name: str) -> None:
    """Test-only crash points: the fault-injection suite makes a worker die exactly here."""
    wanted = os.environ.get("FAULT_KILL_AT")
    if wanted and wanted == name:
        os.kill(os.getpid(), 9)


def claim(session, delivery_id: int, run_id: int, lease_seconds: int) -> bool:
    """Take a pending delivery for this worker; True for exactly one of any number of callers."""
    now = utcnow()
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
    if claimed == 1:
        with _held_lock:
            _held.add(delivery_id)
    return claimed == 1


def handed_over(session, delivery_id: int) -> None:
    """Record that the message is about to go out; ClaimLost if the claim was taken back."""
    marked = session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.state == "sending")
        .values(data_sent=True)
    ).rowcount
    session.commit()
    if marked != 1:
        raise ClaimLost(delivery_id)


def finish(session, delivery_id: int, state: str, run_id: int | None = None, **values) -> None:
    """Record the outcome of a claimed delivery and let go of the claim.

    With run_id, a "sent" also resets the run's circuit-breaker count in the same commit.
    """
    global _sent_commits
    values.update(state=state, lease_until=None, updated_at=utcnow())
    # A "sent" may arrive after the reaper gave up on a slow worker and said "unknown":
    # the server's 250 is better knowledge, so it wins.
    allowed = ("sending", "unknown") if state == "sent" else ("sending",)
    session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.state.in_(allowed))
        .values(**values)
    )
    if state == "sent" and run_id is not None:
        session.execute(
            update(ReportRun)
            .where(ReportRun.id == run_id, ReportRun.consecutive_failures > 0)
            .values(consecutive_failures=0)
        )
    session.commit()
    with _held_lock:
        _held.discard(delivery_id)
    if state == "sent":
        _sent_commits += 1
        fault_point(f"after_commit:{_sent_commits}")


def settle_unclaimed(session, delivery_id: int, run_id: int, state: str, reason: str) -> None:
    """Outcomes decided before any SMTP work: no learner, empty month, bad address."""
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


def release_held(session) -> int:
    """Give back this process's claims that were not handed to SMTP yet (on SIGTERM)."""
    with _held_lock:
        ids = list(_held)
        _held.clear()
    if not ids:
        return 0
    released = session.execute(
        update(Delivery)
        .where(Delivery.id.in_(ids), Delivery.state == "sending", Delivery.data_sent.is_(False))
        .values(
            state="pending",
            lease_until=None,
            attempts=Delivery.attempts - 1,
            last_error="worker stopped before sending; queued again",
            updated_at=utcnow(),
        )
    ).rowcount
    session.commit()
    return released


def note_failure(session, run_id: int, threshold: int) -> bool:
    """Count a consecutive failure of the run; True when the circuit breaker should trip."""
    session.execute(
        update(ReportRun)
        .where(ReportRun.id == run_id)
        .values(consecutive_failures=ReportRun.consecutive_failures + 1)
    )
    session.commit()
    count = session.get(ReportRun, run_id, populate_existing=True).consecutive_failures
    return threshold > 0 and count >= threshold
