"""Starting runs and writing the ledger: the database decides who is mailed, once."""

import secrets
import uuid
from dataclasses import dataclass
from dataclasses import field
from email.utils import parseaddr

from sqlalchemy import and_
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from webapp.core.clock import utcnow
from webapp.core.models import RUN_OPEN_STATES
from webapp.core.models import Delivery
from webapp.core.models import ReportRun
from webapp.core.models import Score
from webapp.core.models import User
from webapp.core.months import Month

KIND = "monthly"
# Deliveries a new run of the month takes over: not sent, not in flight, not of
# unknown outcome (those are resent only by an admin's explicit Resend).
RETAKEN_STATES = ("failed", "cancelled", "skipped")


class RunConflict(Exception):
    """A run for this month (or this learner's report) is still going."""

    def __init__(self, run: ReportRun | None, message: str):
        super().__init__(message)
        self.run = run
        self.message = message


class LearnerNotFound(LookupError):
    """No learner with that id."""


@dataclass
class Plan:
    """Who a run would mail and who it would skip, with the reason, before anything is sent."""

    month: Month
    to_send: list[tuple[int, str, str]] = field(default_factory=list)  # id, name, email
    skipped: list[tuple[int, str, str]] = field(default_factory=list)  # id, name, reason


def message_id_for(month: Month, user_id: int, mail_from: str) -> str:
    """A Message-ID fixed for the delivery's lifetime, so receivers can drop a duplicate."""
    domain = parseaddr(mail_from)[1].rpartition("@")[2] or "quiz-reports.local"
    return f"<report.{month}.{user_id}.{secrets.token_hex(6)}@{domain}>"


def open_run_for(session, month: Month) -> ReportRun | None:
    """The all-learner run of the month that is still going, if any."""
    return session.scalar(
        select(ReportRun).where(
            ReportRun.month == str(month),
            ReportRun.scope == "all",
            ReportRun.state.in_(RUN_OPEN_STATES),
        )
    )


def plan(session, month: Month, *, user_id: int | None = None, skip_empty: bool = False) -> Plan:
    """The dry run: learners a start would mail, and those skipped with the reason."""
    learners = select(User.id, User.full_name, User.username, User.email).where(User.role == "user")
    if user_id is not None:
        learners = learners.where(User.id == user_id)
    active = set(
        session.scalars(
            select(Score.user_id)
            .where(Score.timestamp >= month.start, Score.timestamp < month.end)
            .distinct()
        )
    )
    existing = dict(
        session.execute(
            select(Delivery.user_id, Delivery.state).where(
                Delivery.month == str(month), Delivery.kind == KIND
            )
        ).all()
    )
    result = Plan(month)
    for uid, full_name, username, email in session.execute(learners.order_by(User.id)):
        name = full_name or username
        state = existing.get(uid)
        reason = _skip_reason(email, state, uid in active, skip_empty, month, single=bool(user_id))
        if reason:
            result.skipped.append((uid, name, reason))
        else:
            result.to_send.append((uid, name, email))
    return result


def _skip_reason(email, state, active, skip_empty, month, *, single) -> str | None:
    if not email or "@" not in email:
        return "no email address on file"
    if not active and skip_empty:
        return f"no attempts in {month.label} (empty reports are skipped)"
    if single:
        return "being sent right now" if state in ("pending", "sending") else None
    if state == "sent":
        return f"report for {month.label} already sent"
    if state == "unknown":
        return "outcome of the last send is unknown; use Resend to send again"
    if state in ("pending", "sending"):
        return "already queued in another run"
    return None


def start_all(session, month: Month, *, started_by_id=None, mail_from: str, skip_empty=False):
    """Create the month's run and its deliveries in one transaction; RunConflict if one is open."""
    current = open_run_for(session, month)
    if current is not None:
        raise RunConflict(current, f"A run for {month.label} is still going.")
    run = ReportRun(
        task_id=str(uuid.uuid4()),
        month=str(month),
        scope="all",
        state="queued",
        started_by_id=started_by_id,
    )
    session.add(run)
    try:
        session.flush()
    except IntegrityError:
        # Another start of the same month won the race; the partial unique index said so.
        session.rollback()
        current = open_run_for(session, month)
        raise RunConflict(current, f"A run for {month.label} is still going.") from None
    the_plan = plan(session, month, skip_empty=skip_empty)
    _write_deliveries(session, run, the_plan, mail_from)
    run.total = len(the_plan.to_send)
    session.commit()
    return run


def _write_deliveries(session, run: ReportRun, the_plan: Plan, mail_from: str) -> None:
    month = the_plan.month
    existing = set(
        session.scalars(
            select(Delivery.user_id).where(Delivery.month == str(month), Delivery.kind == KIND)
        )
    )
    now = utcnow()
    new_rows = [
        {
            "user_id": uid,
            "month": str(month),
            "kind": KIND,
            "run_id": run.id,
            "state": "pending",
            "attempts": 0,
            "message_id": message_id_for(month, uid, mail_from),
            "created_at": now,
            "updated_at": now,
        }
        for uid, _name, _email in the_plan.to_send
        if uid not in existing
    ]
    if new_rows:
        session.execute(insert(Delivery), new_rows)
    retaken = [uid for uid, _n, _e in the_plan.to_send if uid in existing]
    for start in range(0, len(retaken), 500):
        session.execute(
            update(Delivery)
            .where(
                Delivery.month == str(month),
                Delivery.kind == KIND,
                Delivery.user_id.in_(retaken[start : start + 500]),
                Delivery.state.in_(RETAKEN_STATES),
            )
            .values(
                run_id=run.id,
                state="pending",
                reason=None,
                next_attempt_at=None,
                lease_until=None,
                updated_at=now,
            ),
        )


def start_one(session, month: Month, user_id: int, *, started_by_id=None, mail_from: str):
    """A run for one learner: generates and mails their report, resending if sent already."""
    user = session.get(User, user_id)
    if user is None or user.role != "user":
        raise LearnerNotFound(f"No learner with id {user_id}.")
    if not user.email or "@" not in user.email:
        raise ValueError(f"Learner {user_id} has no email address on file.")
    run = ReportRun(
        task_id=str(uuid.uuid4()),
        month=str(month),
        scope="user",
        user_id=user_id,
        state="queued",
        started_by_id=started_by_id,
        total=1,
    )
    session.add(run)
    session.flush()
    delivery = session.scalar(
        select(Delivery).where(
            Delivery.user_id == user_id, Delivery.month == str(month), Delivery.kind == KIND
        )
    )
    if delivery is None:
        session.add(
            Delivery(
                user_id=user_id,
                month=str(month),
                kind=KIND,
                run_id=run.id,
                state="pending",
                message_id=message_id_for(month, user_id, mail_from),
            )
        )
        try:
            session.flush()
        except IntegrityError:
            session.rollback()
            raise _in_flight(session, month, user_id) from None
    else:
        # Compare-and-set on the state we saw: of two Resends at once, exactly one wins.
        taken = session.execute(
            update(Delivery)
            .where(
                Delivery.id == delivery.id,
                Delivery.state == delivery.state,
                Delivery.run_id == delivery.run_id,
                and_(Delivery.state != "sending", ~_in_open_user_run(delivery.run_id)),
            )
            .values(
                run_id=run.id,
                state="pending",
                reason=None,
                next_attempt_at=None,
                lease_until=None,
                attempts=0,
                updated_at=utcnow(),
            )
            .execution_options(synchronize_session=False)
        ).rowcount
        if taken != 1:
            session.rollback()
            raise _in_flight(session, month, user_id)
    session.commit()
    return run


def _in_open_user_run(run_id: int):
    return (
        select(ReportRun.id)
        .where(
            ReportRun.id == run_id, ReportRun.scope == "user", ReportRun.state.in_(RUN_OPEN_STATES)
        )
        .exists()
    )


def _in_flight(session, month: Month, user_id: int) -> RunConflict:
    run = session.scalar(
        select(ReportRun)
        .join(Delivery, Delivery.run_id == ReportRun.id)
        .where(Delivery.user_id == user_id, Delivery.month == str(month), Delivery.kind == KIND)
    )
    return RunConflict(run, f"This learner's report for {month.label} is being sent right now.")


def recent_runs(session, limit: int = 20) -> list[ReportRun]:
    """The newest runs first."""
    return list(session.scalars(select(ReportRun).order_by(ReportRun.id.desc()).limit(limit)))


def open_runs_count(session) -> int:
    """How many runs are still going."""
    return session.scalar(
        select(func.count()).select_from(ReportRun).where(ReportRun.state.in_(RUN_OPEN_STATES))
    )


class RunStateError(Exception):
    """The run is not in a state that allows this action; the text says why."""


def _set_state(session, run: ReportRun, allowed: tuple[str, ...], **values) -> None:
    changed = session.execute(
        update(ReportRun)
        .where(ReportRun.id == run.id, ReportRun.state.in_(allowed))
        .values(**values)
    ).rowcount
    if changed != 1:
        session.rollback()
        session.refresh(run)
        raise RunStateError(f"This run is {run.state}; that action does not apply.")


def cancel(session, run: ReportRun) -> int:
    """Stop sending: mail already sent stays sent, the rest is marked cancelled."""
    _set_state(session, run, RUN_OPEN_STATES, state="cancelled", finished_at=utcnow())
    n = session.execute(
        update(Delivery)
        .where(Delivery.run_id == run.id, Delivery.state == "pending")
        .values(state="cancelled", reason="run cancelled by an admin", updated_at=utcnow())
    ).rowcount
    session.commit()
    freeze_counts(session, run)
    return n


def pause(session, run: ReportRun, reason: str = "paused by an admin") -> None:
    """Pause: workers stop before their next mail; resume continues where it stopped."""
    _set_state(session, run, ("queued", "running"), state="paused", pause_reason=reason)
    session.commit()


def resume(session, run: ReportRun) -> None:
    """Resume a paused run; the caller enqueues it again."""
    _set_state(session, run, ("paused",), state="running", pause_reason=None)
    session.commit()


def retry_failed(session, run: ReportRun) -> int:
    """Give the run's failed deliveries another try; reopens a finished run."""
    if run.state == "cancelled":
        raise RunStateError("This run was cancelled; start a new run for the month instead.")
    n = session.execute(
        update(Delivery)
        .where(Delivery.run_id == run.id, Delivery.state == "failed")
        .values(state="pending", attempts=0, next_attempt_at=None, reason=None, updated_at=utcnow())
    ).rowcount
    if n == 0:
        session.rollback()
        return 0
    if run.state in ("done", "failed"):
        if run.scope == "all" and open_run_for(session, Month.parse(run.month, allow_future=True)):
            session.rollback()
            raise RunStateError("Another run for this month is going; retry when it ends.")
        run.state, run.finished_at = "running", None
    session.commit()
    return n


def freeze_counts(session, run: ReportRun) -> None:
    """Copy the ledger's counts onto the run (for closed runs' history)."""
    from webapp.core.progress import ledger_counts

    counts = ledger_counts(session, run.id)
    run.total = sum(counts.values())
    for state in ("sent", "failed", "skipped", "unknown", "cancelled"):
        setattr(run, state, counts[state])
    session.commit()
