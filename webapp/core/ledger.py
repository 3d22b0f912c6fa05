"""Writes to the delivery ledger: claim by compare-and-set, record outcomes, release claims.

Each function commits at once, so what the ledger says is true even if the worker dies on
the next line.
"""

import os
import threading
from datetime import datetime
from datetime import timedelta

from sqlalchemy import bindparam
from sqlalchemy import select
from sqlalchemy import update

from webapp.core.clock import utcnow
from webapp.core.models import Delivery
from webapp.core.models import ReportRun

# Claims held by this process (delivery id -> lease), so an interrupted consumer can give
# them back at once.
_held: dict[int, datetime] = {}
_held_lock = threading.Lock()
# The lease each claim of this thread set: its fencing token. A worker that outlived its
# lease (stuck at RCPT, paused, slow) finds the delivery claimed again by someone else with
# another lease, and must not send or record anything for it.
_mine = threading.local()
_sent_commits = 0


# The per-message statements are built once: building an ORM UPDATE costs about 250 us,
# executing a prebuilt one about 30 us (measured on SQLite), and there are four per message.
_D = Delivery.__table__
_R = ReportRun.__table__
_CLAIM = (
    update(_D)
    .where(
        _D.c.id == bindparam("did"),
        _D.c.run_id == bindparam("rid"),
        _D.c.state == "pending",
        (_D.c.next_attempt_at.is_(None)) | (_D.c.next_attempt_at <= bindparam("now")),
    )
    .values(
        state="sending",
        lease_until=bindparam("lease"),
        attempts=_D.c.attempts + 1,
        data_sent=False,
        updated_at=bindparam("now"),
    )
)
_HANDED_OVER = (
    update(_D).where(_D.c.id == bindparam("did"), _D.c.state == "sending").values(data_sent=True)
)
_HANDED_OVER_MINE = _HANDED_OVER.where(_D.c.lease_until == bindparam("lease"))
# A "sent" may arrive after the reaper gave up on a slow worker and said "unknown": the
# server's 250 is better knowledge, so it wins.
_SENT_VALUES = dict(
    state="sent",
    lease_until=None,
    updated_at=bindparam("now"),
    sent_at=bindparam("now"),
    smtp_code=bindparam("code"),
    last_error=None,
    sent_count=_D.c.sent_count + 1,
    message=bindparam("message"),
    message_sha256=bindparam("sha"),
)
_SENT = (
    update(_D)
    .where(_D.c.id == bindparam("did"), _D.c.state.in_(("sending", "unknown")))
    .values(**_SENT_VALUES)
)
_SENT_MINE = (
    update(_D)
    .where(
        _D.c.id == bindparam("did"),
        ((_D.c.state == "sending") & (_D.c.lease_until == bindparam("lease")))
        | (_D.c.state == "unknown"),
    )
    .values(**_SENT_VALUES)
)
_BREAKER_RESET = (
    update(_R)
    .where(_R.c.id == bindparam("rid"), _R.c.consecutive_failures > 0)
    .values(consecutive_failures=0)
)
_RUN_STATE = select(_R.c.state).where(_R.c.id == bindparam("rid"))


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
    params = {
        "did": delivery_id,
        "rid": run_id,
        "now": now,
        "lease": now + timedelta(seconds=lease_seconds),
    }
    claimed = session.execute(_CLAIM, params).rowcount
    session.commit()
    if claimed == 1:
        with _held_lock:
            _held[delivery_id] = params["lease"]
        _my_leases()[delivery_id] = params["lease"]
    return claimed == 1


def _my_leases() -> dict[int, datetime]:
    if not hasattr(_mine, "leases"):
        _mine.leases = {}
    return _mine.leases


def run_state(session, run_id: int) -> str | None:
    """The run's state, read fresh: the pause/cancel flag checked before each delivery."""
    return session.execute(_RUN_STATE, {"rid": run_id}).scalar()


def handed_over(session, delivery_id: int) -> None:
    """Record that the message is about to go out; ClaimLost if the claim was taken back
    (and perhaps given to another worker since)."""
    lease = _my_leases().get(delivery_id)
    if lease is None:
        marked = session.execute(_HANDED_OVER, {"did": delivery_id}).rowcount
    else:
        marked = session.execute(_HANDED_OVER_MINE, {"did": delivery_id, "lease": lease}).rowcount
    session.commit()
    if marked != 1:
        raise ClaimLost(delivery_id)


def mark_sent(session, delivery_id: int, run_id: int, code: int, message: bytes, sha: str):
    """Record the server's acceptance; resets the run's circuit-breaker count in one commit."""
    global _sent_commits
    params = {"did": delivery_id, "now": utcnow(), "code": code, "message": message, "sha": sha}
    lease = _my_leases().get(delivery_id)
    if lease is None:
        session.execute(_SENT, params)
    else:
        session.execute(_SENT_MINE, {**params, "lease": lease})
    session.execute(_BREAKER_RESET, {"rid": run_id})
    session.commit()
    _release(delivery_id)
    _sent_commits += 1
    fault_point(f"after_commit:{_sent_commits}")


def finish(session, delivery_id: int, state: str, **values) -> None:
    """Record an outcome other than sent for a claimed delivery and let go of the claim."""
    values.update(state=state, lease_until=None, updated_at=utcnow())
    mine = Delivery.state == "sending"
    lease = _my_leases().get(delivery_id)
    if lease is not None:
        mine = mine & (Delivery.lease_until == lease)
    session.execute(update(Delivery).where(Delivery.id == delivery_id, mine).values(**values))
    session.commit()
    _release(delivery_id)


def _release(delivery_id: int) -> None:
    lease = _my_leases().pop(delivery_id, None)
    with _held_lock:
        if lease is None or _held.get(delivery_id) == lease:
            _held.pop(delivery_id, None)


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
        held = dict(_held)
        _held.clear()
    released = 0
    for delivery_id, lease in held.items():
        released += session.execute(
            update(Delivery)
            .where(
                Delivery.id == delivery_id,
                Delivery.state == "sending",
                Delivery.lease_until == lease,
                Delivery.data_sent.is_(False),
            )
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
