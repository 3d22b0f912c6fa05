"""Delivery transitions: every change of a delivery's state is one function here.

    pending ──claim──▶ sending ──mark_sent──▶ sent
       ▲                  │ ──record_outcome──▶ failed | unknown | pending (retry later)
       └──release─────────┘    (lease expired, its consumer silent, or stopped before DATA)
    pending ──settle──▶ skipped | failed      (decided before any SMTP work)
    pending ──cancel──▶ cancelled             failed ──retry──▶ pending
    (moves.py: a delivery taken over by another run of its month, by a resend or a new run)

Each function commits at once, so what the ledger says is true even if the worker dies on the
next line. A claim is fenced by its lease: a worker that outlived its lease finds the delivery
claimed again by someone else with another lease, and may neither send nor record anything.
"""

import threading
from datetime import datetime
from datetime import timedelta

from sqlalchemy import Connection
from sqlalchemy import bindparam
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import Session

from webapp.core.clock import utcnow
from webapp.core.lifecycle.prepared import Prepared
from webapp.core.lifecycle.prepared import commit
from webapp.core.models import Delivery
from webapp.core.models import ReportRun
from webapp.core.states import DeliveryState
from webapp.core.states import RunState
from webapp.infra import failpoints

# The lifecycle's functions take a session, or a bare connection (a sending lane's).
Db = Session | Connection
PENDING = DeliveryState.PENDING
SENDING = DeliveryState.SENDING
RELEASED_NOTE = "worker stopped before sending; queued again"
CANCELLED_NOTE = "run cancelled by an admin"

# Claims held by this process (delivery id -> lease), so an interrupted consumer can give
# them back at once.
_held: dict[int, datetime] = {}
_held_lock = threading.Lock()
# The lease each claim of this thread set: its fencing token.
_mine = threading.local()
# This process's consumer (its heartbeat's key), written on each claim it makes; None outside
# a consumer (a test running tasks in-process), where only the lease brings a claim back.
_holder: str | None = None


def claims_held_by(consumer_key: str | None) -> None:
    """Name the consumer this process's claims belong to (set when its heartbeat starts)."""
    global _holder
    _holder = consumer_key


# The per-message statements are prepared once (prepared.py): there are four a message.
_D = Delivery.__table__
_R = ReportRun.__table__
_RUN_IS_RUNNING = (
    select(_R.c.state).where(_R.c.id == bindparam("rid")).scalar_subquery() == RunState.RUNNING
)
# A claim is granted only while the run is running: it is also the check, before each
# message, that nobody paused or cancelled the run meanwhile.
_CLAIM = Prepared(
    update(_D)
    .where(
        _D.c.id == bindparam("did"),
        _D.c.run_id == bindparam("rid"),
        _D.c.state == PENDING,
        (_D.c.next_attempt_at.is_(None)) | (_D.c.next_attempt_at <= bindparam("now")),
        _RUN_IS_RUNNING,
    )
    .values(
        state=SENDING,
        lease_until=bindparam("lease"),
        claimed_by=bindparam("holder"),
        attempts=_D.c.attempts + 1,
        data_sent=False,
        updated_at=bindparam("now"),
    )
)
# Handed over only while the run is still running: a pause or cancel between the claim and
# DATA (a slow connect, say) keeps that message from going out after it.
_ITS_RUN_IS_RUNNING = (
    select(_R.c.state).where(_R.c.id == _D.c.run_id).scalar_subquery() == RunState.RUNNING
)
_HANDED_OVER_ANY = (
    update(_D)
    .where(_D.c.id == bindparam("did"), _D.c.state == SENDING, _ITS_RUN_IS_RUNNING)
    .values(data_sent=True, updated_at=bindparam("now"))
)
_HANDED_OVER = Prepared(_HANDED_OVER_ANY)
_HANDED_OVER_MINE = Prepared(_HANDED_OVER_ANY.where(_D.c.lease_until == bindparam("lease")))
HALTED_NOTE = "run paused or cancelled before the message was handed over; queued again"
# A "sent" may arrive after the reaper gave up on a slow worker and said "unknown": the
# server's 250 is better knowledge, so it wins.
_SENT_VALUES = dict(
    state=DeliveryState.SENT,
    lease_until=None,
    updated_at=bindparam("now"),
    sent_at=bindparam("now"),
    smtp_code=bindparam("code"),
    last_error=None,
    sent_count=_D.c.sent_count + 1,
    message=bindparam("message"),
    message_sha256=bindparam("sha"),
)
_UNKNOWN = DeliveryState.UNKNOWN
_SENT = Prepared(
    update(_D)
    # Not IN: its list is an expanding parameter, which Prepared cannot fill in.
    .where(_D.c.id == bindparam("did"), (_D.c.state == SENDING) | (_D.c.state == _UNKNOWN))
    .values(**_SENT_VALUES)
)
_SENT_MINE = Prepared(
    update(_D)
    .where(
        _D.c.id == bindparam("did"),
        ((_D.c.state == SENDING) & (_D.c.lease_until == bindparam("lease")))
        | (_D.c.state == DeliveryState.UNKNOWN),
    )
    .values(**_SENT_VALUES)
)
_BREAKER_RESET = Prepared(
    update(_R)
    .where(_R.c.id == bindparam("rid"), _R.c.consecutive_failures > 0)
    .values(consecutive_failures=0)
)


class ClaimLost(Exception):
    """The claim was taken back (reaper or shutdown) before the message was handed over."""


class RunHalted(ClaimLost):
    """The run was paused or cancelled after the claim: the claim was given back unsent."""


def _my_leases() -> dict[int, datetime]:
    if not hasattr(_mine, "leases"):
        _mine.leases = {}
    return _mine.leases


def _forget_claim(delivery_id: int) -> None:
    lease = _my_leases().pop(delivery_id, None)
    with _held_lock:
        if lease is None or _held.get(delivery_id) == lease:
            _held.pop(delivery_id, None)


def claim(db: Db, delivery_id: int, run_id: int, lease_seconds: int) -> bool:
    """pending → sending for this worker while the run is running; True for exactly one of
    any number of callers, and for none once the run is paused or cancelled."""
    now = utcnow()
    params = {
        "did": delivery_id,
        "rid": run_id,
        "now": now,
        "lease": now + timedelta(seconds=lease_seconds),
        "holder": _holder,
    }
    claimed = _CLAIM.rowcount(db, params)
    # Lost with the database server, a claim leaves the delivery pending: no message went
    # out on it, since the hand-over (which does wait) would have flushed it to disk.
    commit(db, wait_for_disk=False)
    if claimed == 1:
        with _held_lock:
            _held[delivery_id] = params["lease"]
        _my_leases()[delivery_id] = params["lease"]
    return claimed == 1


def hand_over(db: Db, delivery_id: int) -> None:
    """Record that the message is about to go out: from here a lost reply means "unknown".

    Raises ClaimLost if the claim was taken back (and perhaps given to another worker since).
    """
    lease = _my_leases().get(delivery_id)
    params = {"did": delivery_id, "now": utcnow()}
    if lease is None:
        marked = _HANDED_OVER.rowcount(db, params)
    else:
        marked = _HANDED_OVER_MINE.rowcount(db, {**params, "lease": lease})
    commit(db)
    if marked != 1:
        if _give_back(db, delivery_id, lease):
            raise RunHalted(delivery_id)
        raise ClaimLost(delivery_id)


def _give_back(db: Db, delivery_id: int, lease: datetime | None) -> bool:
    """sending → pending for a claim still held but whose run stopped running; True if so."""
    mine = _D.c.state == SENDING, _D.c.data_sent.is_(False), ~_ITS_RUN_IS_RUNNING
    if lease is not None:
        mine += (_D.c.lease_until == lease,)
    given = db.execute(
        update(_D)
        .where(_D.c.id == delivery_id, *mine)
        .values(
            state=PENDING,
            lease_until=None,
            attempts=_D.c.attempts - 1,
            last_error=HALTED_NOTE,
            updated_at=utcnow(),
        )
    ).rowcount
    commit(db)
    if given == 1:
        _forget_claim(delivery_id)
    return given == 1


def mark_sent(db: Db, delivery_id: int, run_id: int, code: int, message: bytes, sha: str) -> None:
    """sending → sent with the server's reply and the bytes mailed; resets the run's breaker."""
    params = {"did": delivery_id, "now": utcnow(), "code": code, "message": message, "sha": sha}
    lease = _my_leases().get(delivery_id)
    if lease is None:
        _SENT.rowcount(db, params)
    else:
        _SENT_MINE.rowcount(db, {**params, "lease": lease})
    _BREAKER_RESET.rowcount(db, {"rid": run_id})
    # Lost with the database server, a "sent" leaves the delivery handed over: the reaper
    # marks it unknown, never sends it again.
    commit(db, wait_for_disk=False)
    _forget_claim(delivery_id)
    failpoints.hit("after_commit")


def record_outcome(session: Session, delivery_id: int, state: DeliveryState, **values) -> None:
    """sending → failed, unknown or back to pending (a retry later); lets go of the claim."""
    values.update(state=state, lease_until=None, updated_at=utcnow())
    mine = Delivery.state == SENDING
    lease = _my_leases().get(delivery_id)
    if lease is not None:
        mine = mine & (Delivery.lease_until == lease)
    session.execute(update(Delivery).where(Delivery.id == delivery_id, mine).values(**values))
    session.commit()
    _forget_claim(delivery_id)


def settle(
    session: Session, delivery_id: int, run_id: int, state: DeliveryState, reason: str
) -> None:
    """pending → skipped or failed, decided before any SMTP work (no learner, bad address)."""
    session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.run_id == run_id, Delivery.state == PENDING)
        .values(
            state=state,
            reason=reason,
            last_error=reason if state == DeliveryState.FAILED else None,
            updated_at=utcnow(),
        )
    )
    session.commit()


def defer(session: Session, delivery_ids: list[int], not_before: datetime) -> None:
    """Keep pending deliveries from being tried (or re-driven by the reaper) before a time."""
    session.execute(
        update(Delivery)
        .where(Delivery.id.in_(delivery_ids), Delivery.state == PENDING)
        .values(next_attempt_at=not_before)
    )
    session.commit()


def release_held(session: Session) -> int:
    """sending → pending for this process's claims not handed to SMTP yet (on SIGTERM)."""
    with _held_lock:
        held = dict(_held)
        _held.clear()
    released = 0
    for delivery_id, lease in held.items():
        released += session.execute(
            update(Delivery)
            .where(
                Delivery.id == delivery_id,
                Delivery.state == SENDING,
                Delivery.lease_until == lease,
                Delivery.data_sent.is_(False),
            )
            .values(
                state=PENDING,
                lease_until=None,
                attempts=Delivery.attempts - 1,
                last_error=RELEASED_NOTE,
                updated_at=utcnow(),
            )
        ).rowcount
    session.commit()
    return released


def release_expired(session: Session) -> tuple[int, int]:
    """Expired claims: back to pending, or to unknown if the data may have reached SMTP.

    Returns (released, unknown). updated_at is left as it was: the reaper's bookkeeping is not
    progress, and the reaper's stall check reads progress from it.
    """
    released, unknown, _runs = _take_back(session, Delivery.lease_until < utcnow())
    return released, unknown


def release_claims_of(session: Session, consumers) -> tuple[int, int, set[int]]:
    """The claims of consumers known to be dead (`consumers`: their keys) taken back now,
    as if their leases had run out; (released, unknown, the runs they were in).

    The lease still fences a consumer taken for dead that was only stalled: its claims now
    carry no lease of its own, so it can neither send on them nor record anything.
    """
    return _take_back(session, Delivery.claimed_by.in_(consumers))


def _take_back(session: Session, which) -> tuple[int, int, set[int]]:
    claims = Delivery.state == SENDING, which
    back = session.execute(
        update(Delivery)
        .where(*claims, Delivery.data_sent.is_(False))
        .values(
            state=PENDING,
            lease_until=None,
            updated_at=Delivery.updated_at,
            last_error=RELEASED_NOTE,
        )
        .returning(Delivery.run_id),
        execution_options={"synchronize_session": False},
    ).all()
    unknown = session.execute(
        update(Delivery)
        .where(*claims, Delivery.data_sent.is_(True))
        .values(
            state=DeliveryState.UNKNOWN,
            lease_until=None,
            updated_at=Delivery.updated_at,
            last_error="worker stopped after the message was handed to the SMTP server; "
            "it may have arrived. Use Resend to send it again.",
        )
        .returning(Delivery.run_id),
        execution_options={"synchronize_session": False},
    ).all()
    session.commit()
    return len(back), len(unknown), {run_id for (run_id,) in back + unknown}


def cancel_pending(session: Session, run_id: int) -> int:
    """pending → cancelled for one run (the caller commits with the run's own change)."""
    return session.execute(
        update(Delivery)
        .where(Delivery.run_id == run_id, Delivery.state == PENDING)
        .values(state=DeliveryState.CANCELLED, reason=CANCELLED_NOTE, updated_at=utcnow())
    ).rowcount


def cancel_orphans(session: Session) -> int:
    """pending → cancelled for claims of cancelled runs that came back after the cancel."""
    cancelled_runs = select(ReportRun.id).where(ReportRun.state == RunState.CANCELLED)
    count = session.execute(
        update(Delivery)
        .where(Delivery.state == PENDING, Delivery.run_id.in_(cancelled_runs))
        .values(state=DeliveryState.CANCELLED, reason=CANCELLED_NOTE)
    ).rowcount
    session.commit()
    return count


def retry_failed(session: Session, run_id: int) -> int:
    """failed → pending for one run, with a fresh count of attempts (uncommitted)."""
    return session.execute(
        update(Delivery)
        .where(Delivery.run_id == run_id, Delivery.state == DeliveryState.FAILED)
        .values(state=PENDING, attempts=0, next_attempt_at=None, reason=None, updated_at=utcnow())
    ).rowcount
