"""The suppression list: learners no report is mailed to, and why.

A learner gets there by unsubscribing (the link in a report, or a mail client's one-click
button), by a hard bounce (the address does not exist: a 5.1.1 at RCPT, or a bounce report
fed to `flask --app wsgi ingest-bounces`), or by an admin. Runs and their dry runs skip them
with the reason in words (webapp/core/launch.py, webapp/core/lanes.py); a one-learner Send is
refused. Lifting an entry removes it. Every addition and lift is written to the audit trail in
the same transaction.

One entry a learner (a unique index): adding is an INSERT that does nothing when the learner
is listed already, so two unsubscribes at once, or a repeated one, change nothing.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection
from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from webapp.core import audit
from webapp.core.audit import Actor
from webapp.core.audit import AuditAction
from webapp.core.clock import utcnow
from webapp.core.models import Suppression
from webapp.core.models import User
from webapp.core.paging import Page
from webapp.core.paging import page_of
from webapp.core.states import Role
from webapp.core.states import SuppressionReason

Db = Session | Connection

_MONTH_ABBR = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# Entry ids are 32-bit integers on PostgreSQL: a larger one is no entry, not a database error.
_MAX_ID = 2**31 - 1


def day(when: datetime) -> str:
    """A date as people read it: "3 Dec 2026" (UTC)."""
    return f"{when.day} {_MONTH_ABBR[when.month - 1]} {when.year}"


def reason_words(reason: str, since: datetime) -> str:
    """Why a learner is skipped, e.g. "unsubscribed on 3 Dec 2026"."""
    on = day(since)
    if reason == SuppressionReason.UNSUBSCRIBED:
        return f"unsubscribed on {on}"
    if reason == SuppressionReason.HARD_BOUNCE:
        return f"the address bounced for good on {on} (hard bounce)"
    return f"suppressed by an admin on {on}"


def kind_words(reason: str) -> str:
    """The reason without its date, for counting: "unsubscribed"."""
    if reason == SuppressionReason.UNSUBSCRIBED:
        return "unsubscribed"
    if reason == SuppressionReason.HARD_BOUNCE:
        return "the address bounced for good (hard bounce)"
    return "suppressed by an admin"


def words_of(entry: Suppression) -> str:
    """reason_words() of an entry."""
    return reason_words(entry.reason, entry.created_at)


def target_of(user_id: int, email: str | None) -> str:
    """How the audit trail names a learner on the list."""
    return f"learner {user_id} ({email})" if email else f"learner {user_id}"


def of_learner(session: Session, user_id: int) -> Suppression | None:
    """The learner's entry, if they are suppressed."""
    return session.scalar(select(Suppression).where(Suppression.user_id == user_id))


def of_learners(db: Db, user_ids: list[int]) -> dict[int, str]:
    """The suppressed among these learners, with the reason in words: one query for a chunk."""
    found: dict[int, str] = {}
    for start in range(0, len(user_ids), 500):
        rows = db.execute(
            select(Suppression.user_id, Suppression.reason, Suppression.created_at).where(
                Suppression.user_id.in_(user_ids[start : start + 500])
            )
        )
        found.update((uid, reason_words(reason, since)) for uid, reason, since in rows)
    return found


def _insert_for(db: Db):
    dialect = db.dialect if isinstance(db, Connection) else db.get_bind().dialect
    return postgresql.insert if dialect.name == "postgresql" else sqlite.insert


def add(
    db: Db,
    user_id: int,
    email: str | None,
    reason: SuppressionReason,
    detail: str,
    actor: Actor,
) -> bool:
    """List the learner, audited, in the caller's transaction (the caller commits); False when
    they were listed already, which changes nothing."""
    now = utcnow()
    statement = (
        _insert_for(db)(Suppression)
        .values(
            user_id=user_id,
            email=(email or "")[:254],
            reason=SuppressionReason(reason).value,
            detail=detail[:1000],
            created_at=now,
            added_by=actor.label[:254],
            added_by_id=actor.id,
        )
        .on_conflict_do_nothing(index_elements=["user_id"])
        # A row back means a row added: rowcount says -1 here through an ORM session.
        .returning(Suppression.id)
    )
    if db.execute(statement).scalar() is None:
        return False
    words = reason_words(reason, now)
    audit.record_row(
        db,
        actor,
        AuditAction.SUPPRESSION_ADDED,
        target_of(user_id, email),
        f"{words}; {detail}" if detail else words,
    )
    return True


def learners_with_email(session: Session, email: str) -> list[User]:
    """The learners whose address is this one (letter case aside)."""
    address = (email or "").strip().lower()
    if not address:
        return []
    return list(
        session.scalars(
            select(User)
            .where(User.role == Role.LEARNER, func.lower(User.email) == address)
            .order_by(User.id)
        )
    )


@dataclass(frozen=True)
class Added:
    """What an admin's addition did: the learners listed now, and those listed before."""

    added: list[User]
    already: list[tuple[User, str]]  # the learner and why they were listed before


class NoSuchLearner(LookupError):
    """No learner has the address an admin gave."""


def add_by_admin(session: Session, email: str, note: str, actor: Actor) -> Added:
    """List every learner with this address (reason: admin), audited; committed.

    NoSuchLearner when no learner has it. Learners listed already keep their entry.
    """
    learners = learners_with_email(session, email)
    if not learners:
        raise NoSuchLearner(f"No learner has the address {email.strip()}.")
    added, already = [], []
    for learner in learners:
        if add(session, learner.id, learner.email, SuppressionReason.ADMIN, note, actor):
            added.append(learner)
        else:
            already.append((learner, words_of(of_learner(session, learner.id))))
    session.commit()
    return Added(added, already)


def learner_for_link(session: Session, user_id: int) -> tuple[User, Suppression | None] | None:
    """The learner an unsubscribe link names and their entry if listed; None when there is
    no such learner (any more)."""
    learner = session.get(User, user_id) if 0 < user_id <= _MAX_ID else None
    if learner is None or learner.role != Role.LEARNER:
        return None
    return learner, of_learner(session, user_id)


def unsubscribe(session: Session, user_id: int, detail: str, actor: Actor) -> bool | None:
    """The learner's own opt-out by their link, audited; committed. True when listed now,
    False when they were listed already (nothing changes), None when there is no such
    learner (any more)."""
    found = learner_for_link(session, user_id)
    if found is None:
        return None
    learner = found[0]
    listed = add(session, user_id, learner.email, SuppressionReason.UNSUBSCRIBED, detail, actor)
    session.commit()
    return listed


def lift(session: Session, entry_id: int, actor: Actor) -> Suppression | None:
    """Remove an entry, audited; committed. The entry as it was, or None when there is none
    with this id (lifted already, say), which changes nothing."""
    if not 0 < entry_id <= _MAX_ID:
        return None
    entry = session.get(Suppression, entry_id)
    if entry is None:
        return None
    words = words_of(entry)
    removed = session.execute(
        delete(Suppression).where(Suppression.id == entry_id),
        execution_options={"synchronize_session": False},
    ).rowcount
    if removed != 1:  # lifted by another admin meanwhile
        session.rollback()
        return None
    detail = f"was: {words}" + (f"; {entry.detail}" if entry.detail else "")
    audit.record(
        session,
        actor,
        AuditAction.SUPPRESSION_LIFTED,
        target_of(entry.user_id, entry.email),
        detail,
    )
    # Kept as it was for the caller's words: the commit would expire a row that is gone.
    session.expunge(entry)
    session.commit()
    return entry


@dataclass(frozen=True)
class Listed:
    """An entry of the Suppression page, with the learner's name."""

    entry: Suppression
    name: str
    words: str


def listed(session: Session, page: int, per_page: int, email: str = "") -> Page:
    """A page of the list, newest first; `email` narrows it to addresses containing it."""
    query = select(Suppression, User.full_name, User.username).join(
        User, User.id == Suppression.user_id, isouter=True
    )
    text = (email or "").strip().lower()
    if text:
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(func.lower(Suppression.email).like(f"%{escaped}%", escape="\\"))
    query = query.order_by(Suppression.created_at.desc(), Suppression.id.desc())
    found = page_of(session, query, page, per_page)
    rows = [
        Listed(entry, full_name or username or f"learner {entry.user_id}", words_of(entry))
        for entry, full_name, username in found.rows
    ]
    return Page(rows=rows, number=found.number, pages=found.pages, total=found.total)
