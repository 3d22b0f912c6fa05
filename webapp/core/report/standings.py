"""Per quiz and month, every learner's best percent: the standings that ranks come from.

Working them out is a GROUP BY over all of a month's attempts (1.6 million rows at 100,000
learners: seconds), so they are stored per month in quiz_standing and shared: by every
worker process of a run, and by the preview, which then builds one learner's report in
milliseconds and shows the ranks the run mails.

When they are worked out again:
- when an all-learners run begins, so a run ranks against the month as it stands then;
- when none are stored, or they were stored before the month ended (attempts still came);
- never stored for a month that has not ended: they would change with every attempt.
"""

import sys
from array import array
from collections.abc import Iterable
from collections.abc import Sequence
from itertools import groupby
from operator import itemgetter

from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.core.clock import utcnow
from webapp.core.models import QuizStanding
from webapp.core.models import Score
from webapp.core.models import User
from webapp.core.months import Month
from webapp.core.report.query import PERCENT
from webapp.core.report.query import in_month
from webapp.core.states import Role

# Per quiz, every learner's best percent there, sorted ascending.
QuizBest = dict[int, Sequence[float]]
# Rows fetched at a time while working the standings out.
STREAM_BATCH = 20_000


def compute(session: Session, month: Month) -> QuizBest:
    """The month's standings from its attempts, as packed arrays of doubles.

    Arrays, not lists: a worker holds them for the whole run, and at 100,000 learners a
    list of float objects is four times the size.
    """
    best = func.max(PERCENT)
    # Streamed in batches, sorted by the database: at 100,000 learners the month has 1.5
    # million (quiz, learner) pairs, and a worker that fetched them all at once peaked at
    # 200 MB.
    rows = session.connection().execute(
        select(Score.quiz_id, best)
        .join(User, User.id == Score.user_id)
        .where(User.role == Role.LEARNER, in_month(month))
        .group_by(Score.quiz_id, Score.user_id)
        .order_by(Score.quiz_id, best)
        .execution_options(yield_per=STREAM_BATCH)
    )
    return {
        quiz_id: array("d", (float(pct) for _, pct in group))
        for quiz_id, group in groupby(rows, key=itemgetter(0))
    }


def _packed(values: array) -> bytes:
    if sys.byteorder == "little":
        return values.tobytes()
    swapped = array("d", values)
    swapped.byteswap()
    return swapped.tobytes()


def _unpacked(blob: bytes) -> array:
    values = array("d")
    values.frombytes(blob)
    if sys.byteorder != "little":
        values.byteswap()
    return values


def _store(session: Session, month: Month, best: QuizBest) -> None:
    now = utcnow()
    session.execute(delete(QuizStanding).where(QuizStanding.month == str(month)))
    if best:
        session.execute(
            insert(QuizStanding),
            [
                {"month": str(month), "quiz_id": quiz, "bests": _packed(values), "computed_at": now}
                for quiz, values in best.items()
            ],
        )
    session.commit()


def _stored_at(session: Session, month: Month):
    return session.scalar(
        select(func.min(QuizStanding.computed_at)).where(QuizStanding.month == str(month))
    )


def refresh(session: Session, month: Month) -> QuizBest:
    """Work the month's standings out from its attempts now, and store them if it has ended."""
    best = compute(session, month)
    if month.end <= utcnow():
        _store(session, month, best)
    return best


def for_month(session: Session, month: Month, quiz_ids: Iterable[int] | None = None) -> QuizBest:
    """The month's standings (of the quizzes given, or all), stored or worked out now."""
    stored_at = _stored_at(session, month)
    if stored_at is None or stored_at < month.end:
        best = refresh(session, month)
        return best if quiz_ids is None else {q: best[q] for q in quiz_ids if q in best}
    query = select(QuizStanding.quiz_id, QuizStanding.bests).where(QuizStanding.month == str(month))
    if quiz_ids is not None:
        query = query.where(QuizStanding.quiz_id.in_(sorted(set(quiz_ids))))
    return {quiz: _unpacked(blob) for quiz, blob in session.connection().execute(query)}
