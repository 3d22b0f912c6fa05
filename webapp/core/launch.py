"""Launching runs: the database decides who is mailed, once.

A start writes the run and one pending delivery per learner to mail in one transaction;
the caller then rings the queue's bell (webapp/enqueue.py).
"""

import secrets
import uuid

from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from webapp.core import letters
from webapp.core import suppression
from webapp.core.audit import SYSTEM_ACTOR
from webapp.core.audit import Actor
from webapp.core.audit import AuditAction
from webapp.core.audit import record
from webapp.core.audit import run_target
from webapp.core.clock import utcnow
from webapp.core.lifecycle import moves
from webapp.core.mail.mime import address_problem
from webapp.core.mail.mime import mail_domain
from webapp.core.models import Delivery
from webapp.core.models import ReportRun
from webapp.core.models import Score
from webapp.core.models import Suppression
from webapp.core.models import User
from webapp.core.months import Month
from webapp.core.months import refuse_unless_over
from webapp.core.plans import Plan
from webapp.core.plans import already_sent
from webapp.core.states import DELIVERY_OPEN
from webapp.core.states import RUN_OPEN
from webapp.core.states import DeliveryKind
from webapp.core.states import DeliveryState
from webapp.core.states import Role
from webapp.core.states import RunScope
from webapp.core.states import RunState

KIND = DeliveryKind.MONTHLY
# A report in one of these states may have reached the learner: sending it again is a resend.
MAILED = (DeliveryState.SENT, DeliveryState.UNKNOWN)


class RunConflict(Exception):
    """A run for this month (or this learner's report) is still going."""

    def __init__(self, run: ReportRun | None, message: str):
        super().__init__(message)
        self.run = run
        self.message = message


class NothingToSend(Exception):
    """Every learner of the month has their report, or is skipped: a start writes nothing."""

    def __init__(self, plan: Plan):
        super().__init__(plan.nothing_to_send())
        self.plan = plan
        self.message = plan.nothing_to_send()


class LearnerNotFound(LookupError):
    """No learner with that id."""


class NoEmailAddress(ValueError):
    """The learner has no address a report can be mailed to."""


class LearnerSuppressed(ValueError):
    """The learner is on the suppression list: no report is mailed to them, not even by an
    admin's Send, until an admin lifts the entry."""


def message_id_for(month: Month, user_id: int, mail_from: str) -> str:
    """A new Message-ID, kept through retries and unknown outcomes: receivers drop duplicates."""
    return f"<report.{month}.{user_id}.{secrets.token_hex(6)}@{mail_domain(mail_from)}>"


def open_run_for(session: Session, month: Month) -> ReportRun | None:
    """The all-learner run of the month that is still going, if any."""
    return session.scalar(
        select(ReportRun).where(
            ReportRun.month == str(month),
            ReportRun.scope == RunScope.ALL,
            ReportRun.state.in_(RUN_OPEN),
        )
    )


def plan(
    session: Session, month: Month, *, user_id: int | None = None, skip_empty: bool = False
) -> Plan:
    """The dry run: learners a start would mail, and those skipped with the reason."""
    # The suppression list joins in by its unique index on the learner: still one query for
    # every learner of the month, however long the list is.
    learners = (
        select(
            User.id,
            User.full_name,
            User.username,
            User.email,
            Suppression.reason,
            Suppression.created_at,
        )
        .outerjoin(Suppression, Suppression.user_id == User.id)
        .where(User.role == Role.LEARNER)
    )
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
    result = Plan(month, skip_empty=skip_empty)
    rows = session.execute(learners.order_by(User.id))
    for uid, full_name, username, email, suppressed, since in rows:
        name = full_name or username
        result.active += int(uid in active)
        state = existing.get(uid)
        words = suppression.reason_words(suppressed, since) if suppressed is not None else None
        reason = _skip_reason(
            email, state, uid in active, skip_empty, month, single=bool(user_id), suppressed=words
        )
        if reason:
            result.skipped.append((uid, name, reason))
            result.skipped_emails[uid] = email
            result.tally[suppression.kind_words(suppressed) if reason == words else reason] += 1
        else:
            result.to_send.append((uid, name, email))
    return result


def _skip_reason(email, state, active, skip_empty, month, *, single, suppressed) -> str | None:
    problem = address_problem(email)  # the check sending makes
    if problem:
        return problem
    if suppressed:
        return suppressed
    if not active and skip_empty:
        return f"no attempts in {month.label} (empty reports are skipped)"
    if single:
        return "being sent right now" if state in DELIVERY_OPEN else None
    if state == DeliveryState.SENT:
        return already_sent(month)
    if state == DeliveryState.UNKNOWN:
        return "outcome of the last send is unknown; use Resend to send again"
    if state in DELIVERY_OPEN:
        return "already queued in another run"
    return None


def _new_run(
    month: Month, scope: RunScope, actor: Actor, *, subject=None, intro=None, **values
) -> ReportRun:
    # Checked here too, before the run exists: whoever starts a run, nothing is written
    # for a subject or intro that could not be mailed (letters.LetterError says why).
    wording = letters.clean(subject, intro)
    return ReportRun(
        task_id=str(uuid.uuid4()),
        month=str(month),
        scope=scope,
        state=RunState.QUEUED,
        started_by_id=actor.id,
        subject=wording.subject,
        intro=wording.intro,
        **values,
    )


def start_all(
    session: Session,
    month: Month,
    *,
    actor: Actor = SYSTEM_ACTOR,
    mail_from: str,
    skip_empty=False,
    subject: str | None = None,
    intro: str | None = None,
) -> ReportRun:
    """Create the month's run and its deliveries in one transaction; RunConflict if one is open,
    MonthNotOver before the month has ended, NothingToSend (and nothing written) when every
    learner already has their report or is skipped.

    subject and intro are the run's own wording for its emails (None: the defaults); actor
    is who starts it, for the run and the audit trail (the product itself when left out).
    """
    refuse_unless_over(month)
    current = open_run_for(session, month)
    if current is not None:
        raise RunConflict(current, f"A run for {month.label} is still going.")
    run = _new_run(month, RunScope.ALL, actor, subject=subject, intro=intro)
    session.add(run)
    try:
        session.flush()
    except IntegrityError:
        # Another start of the same month won the race; the partial unique index said so.
        session.rollback()
        current = open_run_for(session, month)
        raise RunConflict(current, f"A run for {month.label} is still going.") from None
    # Planned once the run holds the month (the index above), so no other start can change
    # who is left to mail; an empty plan takes the run back out before anything is written.
    the_plan = plan(session, month, skip_empty=skip_empty)
    if not the_plan.to_send:
        session.rollback()
        raise NothingToSend(the_plan)
    _write_deliveries(session, run, the_plan, mail_from)
    run.total = len(the_plan.to_send)
    detail = f"{month.label}, all learners: {run.total:,} to mail"
    record(session, actor, AuditAction.RUN_STARTED, run_target(run.id), detail)
    session.commit()
    return run


def _write_deliveries(session: Session, run: ReportRun, the_plan: Plan, mail_from: str) -> None:
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
            "state": DeliveryState.PENDING,
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
    moves.retake(session, run.id, str(month), retaken)


def mailable_learner(session: Session, user_id: int) -> User:
    """The learner a one-learner run would mail, checked as start_one checks them (so a
    confirmation is never asked for a report that would be refused): LearnerNotFound,
    NoEmailAddress or LearnerSuppressed say why not."""
    user = session.get(User, user_id)
    if user is None or user.role != Role.LEARNER:
        raise LearnerNotFound(f"No learner with id {user_id}.")
    problem = address_problem(user.email)
    if problem:
        raise NoEmailAddress(f"Learner {user_id} cannot be mailed: {problem}.")
    entry = suppression.of_learner(session, user_id)
    if entry is not None:
        raise LearnerSuppressed(
            f"{user.display_name} is on the suppression list ({suppression.words_of(entry)}): "
            "no report is mailed to them until an admin lifts the entry on the Suppression page."
        )
    return user


def start_one(
    session: Session,
    month: Month,
    user_id: int,
    *,
    actor: Actor = SYSTEM_ACTOR,
    mail_from: str,
    subject: str | None = None,
    intro: str | None = None,
) -> ReportRun:
    """A run for one learner: generates and mails their report, resending if sent already
    (which the audit trail records as a resend, anything else as a start).

    MonthNotOver before the month has ended: a partial report would count as sent, and the
    month's full run would pass the learner by.
    """
    refuse_unless_over(month)
    user = mailable_learner(session, user_id)
    run = _new_run(
        month, RunScope.USER, actor, user_id=user_id, total=1, subject=subject, intro=intro
    )
    session.add(run)
    session.flush()
    delivery = session.scalar(
        select(Delivery).where(
            Delivery.user_id == user_id, Delivery.month == str(month), Delivery.kind == KIND
        )
    )
    mailed_before = delivery is not None and delivery.state in MAILED
    if delivery is None:
        session.add(
            Delivery(
                user_id=user_id,
                month=str(month),
                kind=KIND,
                run_id=run.id,
                state=DeliveryState.PENDING,
                message_id=message_id_for(month, user_id, mail_from),
            )
        )
        try:
            session.flush()
        except IntegrityError:
            session.rollback()
            raise _in_flight(session, month, user_id) from None
    elif not moves.take_for_resend(
        session,
        delivery,
        run.id,
        ~_in_open_user_run(delivery.run_id),
        message_id_for(month, user_id, mail_from),
    ):
        session.rollback()
        raise _in_flight(session, month, user_id)
    learner = f"{user.display_name} <{user.email}>"
    if mailed_before:
        detail = f"{month.label}, as {run_target(run.id)}"
        record(session, actor, AuditAction.REPORT_RESENT, learner, detail)
    else:
        detail = f"{month.label}, one learner: {learner}"
        record(session, actor, AuditAction.RUN_STARTED, run_target(run.id), detail)
    session.commit()
    return run


def _in_open_user_run(run_id: int):
    return (
        select(ReportRun.id)
        .where(
            ReportRun.id == run_id,
            ReportRun.scope == RunScope.USER,
            ReportRun.state.in_(RUN_OPEN),
        )
        .exists()
    )


def _in_flight(session: Session, month: Month, user_id: int) -> RunConflict:
    run = session.scalar(
        select(ReportRun)
        .join(Delivery, Delivery.run_id == ReportRun.id)
        .where(Delivery.user_id == user_id, Delivery.month == str(month), Delivery.kind == KIND)
    )
    return RunConflict(run, f"This learner's report for {month.label} is being sent right now.")
