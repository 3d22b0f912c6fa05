"""The teacher's view of a month, kept in the key-value store and read back while it holds.

Working a month out groups all of its attempts and the month before's (about a second at
10,000 learners, 180,000 attempts a month), far over what a page may take; reading it back is
one store read and two index lookups. What it is kept for:
- an ended month: until an attempt of it (or of the month before, which the change uses)
  arrives after all, or a learner is added or removed. Attempts come in with ever larger
  ids, so only those since the last look are checked: a range of the primary key.
- the month still going: FRESH_FOR, then worked out again (its attempts keep coming).
An attempt changed or deleted in place goes unnoticed until one of those happens; the page
says when its figures were worked out.
"""

import logging
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import replace
from datetime import datetime
from datetime import timedelta

from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.core.clock import utcnow
from webapp.core.models import Score
from webapp.core.models import User
from webapp.core.months import Month
from webapp.core.progress import SnapshotStore
from webapp.core.states import Role
from webapp.core.teaching import Bin
from webapp.core.teaching import ClassMonth
from webapp.core.teaching import Improvement
from webapp.core.teaching import QuizAverage
from webapp.core.teaching import SubjectAverage
from webapp.core.teaching import class_month

log = logging.getLogger(__name__)

# Bumped when what is kept changes shape: older values are then worked out again.
VERSION = 1
FRESH_FOR = timedelta(minutes=5)


@dataclass(frozen=True)
class Marks:
    """What the figures were worked out against: the newest attempt's id, and the learners."""

    score_id: int
    learners: int
    learner_id: int


@dataclass(frozen=True)
class Kept:
    """A month's figures, when they were worked out, and what they were worked out against."""

    view: ClassMonth
    computed_at: datetime
    marks: Marks


def _key(month: Month) -> str:
    return f"teaching:{month}"


def _marks(session: Session) -> Marks:
    newest = session.scalar(select(func.max(Score.id))) or 0
    count, last = session.execute(
        select(func.count(), func.max(User.id)).where(User.role == Role.LEARNER)
    ).one()
    return Marks(score_id=newest, learners=count, learner_id=last or 0)


def to_store(kept: Kept) -> dict:
    """The kept figures as JSON, written field by field."""
    view = kept.view
    return {
        "version": VERSION,
        "computed_at": kept.computed_at.isoformat(),
        "marks": asdict(kept.marks),
        "month": str(view.month),
        "learners": view.learners,
        "active": view.active,
        "attempts": view.attempts,
        "average_percent": view.average_percent,
        "subjects": [asdict(s) for s in view.subjects],
        "quizzes": [asdict(q) for q in view.quizzes],
        "distribution": [asdict(b) for b in view.distribution],
        "hardest": [q.quiz_id for q in view.hardest],
        "improved": [asdict(i) for i in view.improved],
        "absent_ids": view.absent_ids,
    }


def from_store(data) -> Kept | None:
    """The figures to_store wrote; None for anything else (another version, say)."""
    if not isinstance(data, dict) or data.get("version") != VERSION:
        return None
    try:
        quizzes = [QuizAverage(**q) for q in data["quizzes"]]
        by_id = {q.quiz_id: q for q in quizzes}
        view = ClassMonth(
            month=Month.parse(data["month"], allow_future=True),
            learners=data["learners"],
            active=data["active"],
            attempts=data["attempts"],
            average_percent=data["average_percent"],
            subjects=[SubjectAverage(**s) for s in data["subjects"]],
            quizzes=quizzes,
            distribution=[Bin(**b) for b in data["distribution"]],
            hardest=[by_id[i] for i in data["hardest"]],
            improved=[Improvement(**i) for i in data["improved"]],
            absent_ids=list(data["absent_ids"]),
        )
        return Kept(view, datetime.fromisoformat(data["computed_at"]), Marks(**data["marks"]))
    except (KeyError, TypeError, ValueError):
        return None


def _new_attempts_of(session: Session, month: Month, since: int) -> bool:
    """True when an attempt of the month or the month before came in after id `since`."""
    found = session.scalar(
        select(Score.id)
        .where(
            Score.id > since,
            Score.timestamp >= month.previous().start,
            Score.timestamp < month.end,
        )
        .limit(1)
    )
    return found is not None


def _holds(session: Session, kept: Kept, month: Month, marks: Marks, now: datetime) -> bool:
    if (kept.marks.learners, kept.marks.learner_id) != (marks.learners, marks.learner_id):
        return False
    if kept.computed_at < month.end:
        # Worked out while the month was going: good for a little while only.
        return now - kept.computed_at < FRESH_FOR
    if kept.marks.score_id == marks.score_id:
        return True
    return not _new_attempts_of(session, month, kept.marks.score_id)


def _get(store: SnapshotStore, month: Month) -> Kept | None:
    try:
        return from_store(store.get(_key(month)))
    except Exception:  # noqa: BLE001
        log.warning("could not read the kept figures of %s", month, exc_info=True)
        return None


def _put(store: SnapshotStore, kept: Kept) -> None:
    # A cache of the attempts: a store that is down costs time, never the page.
    try:
        store.put(_key(kept.view.month), to_store(kept))
    except Exception:  # noqa: BLE001
        log.warning("could not keep the figures of %s", kept.view.month, exc_info=True)


def for_month(session: Session, store: SnapshotStore, month: Month) -> Kept:
    """The month's figures: those kept while they hold, else worked out now and kept."""
    now = utcnow()
    marks = _marks(session)
    kept = _get(store, month)
    if kept is not None and kept.view.month == month and _holds(session, kept, month, marks, now):
        if kept.marks != marks:
            # Newer attempts, none of this month: remember how far we looked.
            kept = replace(kept, marks=marks)
            _put(store, kept)
        return kept
    kept = Kept(view=class_month(session, month), computed_at=now, marks=marks)
    _put(store, kept)
    return kept
