"""The teacher's view as tables to download: a row per quiz, and a row per learner."""

from collections.abc import Iterator

from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.core.models import User
from webapp.core.months import Month
from webapp.core.report.builder import average_percent
from webapp.core.states import Role
from webapp.core.teaching import ClassMonth
from webapp.core.teaching import per_learner

QUIZ_HEADER = (
    "Subject",
    "Chapter",
    "Quiz",
    "Attempts",
    "Learners",
    "Average %",
    "Attempts under 50 %",
    "Share under 50 %",
)
LEARNER_HEADER = (
    "Learner id",
    "Name",
    "Email",
    "Attempts",
    "Average %",
    "Attempts the month before",
    "Average % the month before",
    "Change (points)",
)
# Learners read from the database at a time while the file is written.
STREAM_BATCH = 2000


def quiz_rows(view: ClassMonth) -> Iterator[tuple]:
    """Every quiz attempted in the month, by subject, chapter and name."""
    for q in view.quizzes:
        yield (
            q.subject,
            q.chapter,
            q.name,
            q.attempts,
            q.learners,
            q.average_percent,
            q.under_half,
            q.under_half_percent,
        )


def learner_rows(session: Session, month: Month) -> Iterator[tuple]:
    """Every learner, by name, with their month and the month before (one grouped query,
    streamed); the averages and the change are the learner's report's own."""
    figures = per_learner(month)
    name = func.coalesce(User.full_name, User.username)
    rows = session.connection().execute(
        select(
            User.id,
            name,
            User.email,
            func.coalesce(figures.c.attempts, 0),
            func.coalesce(figures.c.correct, 0),
            func.coalesce(figures.c.questions, 0),
            func.coalesce(figures.c.previous_attempts, 0),
            func.coalesce(figures.c.previous_correct, 0),
            func.coalesce(figures.c.previous_questions, 0),
        )
        .outerjoin(figures, figures.c.user_id == User.id)
        .where(User.role == Role.LEARNER)
        .order_by(func.lower(name), User.id)
        .execution_options(yield_per=STREAM_BATCH)
    )
    for user_id, who, email, attempts, correct, questions, before, b_correct, b_questions in rows:
        now = average_percent(correct, questions) if attempts else None
        then = average_percent(b_correct, b_questions) if before else None
        change = round(now - then, 2) if now is not None and then is not None else None
        yield (user_id, who, email, attempts, now, before, then, change)
