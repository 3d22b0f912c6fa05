"""A teacher's view of a month: how the class did, subject by subject and quiz by quiz, how its
learners' averages spread, who improved, and who made no attempt at all.

Every figure comes from a few GROUP BY queries over the month's attempts (and the month
before, for the change), so the page costs the same handful of statements at 20 learners or
10,000. An average is what a learner's report calls one: correct answers as a percent of the
questions answered (report/builder.average_percent), so a teacher reads the same number the
learner was mailed. Only learners (role "user") count: staff accounts trying a quiz do not.
"""

from dataclasses import dataclass

from sqlalchemy import Select
from sqlalchemy import case
from sqlalchemy import desc
from sqlalchemy import func
from sqlalchemy import literal
from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.core.models import Chapter
from webapp.core.models import Quiz
from webapp.core.models import Score
from webapp.core.models import Subject
from webapp.core.models import User
from webapp.core.months import Month
from webapp.core.paging import Page
from webapp.core.report.builder import average_percent
from webapp.core.report.query import PERCENT
from webapp.core.report.query import in_month
from webapp.core.states import Role

# How many quizzes the "most got wrong" list and learners the "most improved" list show.
TOP = 10
# An attempt under this percent counts as got wrong.
PASS_PERCENT = 50.0
# The distribution's bins are this many points wide: 0–9, 10–19, ..., 90–100.
BIN_WIDTH = 10
BINS = 100 // BIN_WIDTH


@dataclass(frozen=True)
class SubjectAverage:
    """The class in one subject this month."""

    subject_id: int
    name: str
    attempts: int
    learners: int
    average_percent: float


@dataclass(frozen=True)
class QuizAverage:
    """The class on one quiz this month; `under_half` attempts scored under PASS_PERCENT."""

    quiz_id: int
    name: str
    chapter: str
    subject: str
    attempts: int
    learners: int
    average_percent: float
    under_half: int
    correct: int
    questions: int

    @property
    def under_half_percent(self) -> float:
        """The share of the attempts that scored under PASS_PERCENT, in percent."""
        return round(self.under_half * 100.0 / self.attempts, 1) if self.attempts else 0.0


@dataclass(frozen=True)
class Bin:
    """How many learners' monthly averages fall from `low` to `high` percent (both shown;
    a bin holds low ≤ average < low + BIN_WIDTH, and the last one 100 too)."""

    low: int
    high: int
    learners: int

    @property
    def label(self) -> str:
        return f"{self.low}–{self.high} %"


@dataclass(frozen=True)
class Improvement:
    """A learner's average this month against the month before (both had attempts)."""

    user_id: int
    name: str
    previous_attempts: int
    previous_percent: float
    attempts: int
    percent: float

    @property
    def change(self) -> float:
        # As the learner's own report rounds it (report/builder.py).
        return round(self.percent - self.previous_percent, 2)


@dataclass(frozen=True)
class ClassMonth:
    """The class's month: headline figures and each part of the teacher's page."""

    month: Month
    learners: int  # every learner on the platform when the figures were worked out
    active: int  # those with at least one attempt this month
    attempts: int
    average_percent: float | None  # over every attempt of the month; None without any
    subjects: list[SubjectAverage]
    quizzes: list[QuizAverage]  # by subject, chapter and quiz name
    distribution: list[Bin]  # BINS bins, lowest first
    hardest: list[QuizAverage]  # lowest average first, at most TOP
    improved: list[Improvement]  # largest gain first, at most TOP, gains only
    absent_ids: list[int]  # learners with no attempt this month, by name

    @property
    def absent(self) -> int:
        """Learners with no attempt this month."""
        return len(self.absent_ids)


@dataclass(frozen=True)
class AbsentLearner:
    """A learner with no attempt in the month, as the list names them."""

    id: int
    name: str
    email: str | None


def _learner_ids() -> Select:
    return select(User.id).where(User.role == Role.LEARNER)


def _of_learners():
    return Score.user_id.in_(_learner_ids())


def _sums():
    """Attempts, distinct learners, correct answers, questions."""
    return (
        func.count(),
        func.count(func.distinct(Score.user_id)),
        func.coalesce(func.sum(Score.total_scored), 0),
        func.coalesce(func.sum(Score.total_questions), 0),
    )


def _quizzes(session: Session, month: Month) -> list[QuizAverage]:
    under = func.sum(case((PERCENT < PASS_PERCENT, 1), else_=0))
    figures = session.connection().execute(
        select(Score.quiz_id, *_sums(), under)
        .where(in_month(month), _of_learners())
        .group_by(Score.quiz_id)
    )
    by_quiz = {row[0]: row[1:] for row in figures}
    if not by_quiz:
        return []
    names = session.connection().execute(
        select(Quiz.id, Quiz.name, Chapter.name, Subject.name)
        .join(Chapter, Chapter.id == Quiz.chapter_id)
        .join(Subject, Subject.id == Chapter.subject_id)
        .where(Quiz.id.in_(list(by_quiz)))
        .order_by(Subject.name, Chapter.name, Quiz.name, Quiz.id)
    )
    quizzes = []
    for quiz_id, name, chapter, subject in names:
        attempts, learners, correct, questions, under_half = by_quiz[quiz_id]
        quizzes.append(
            QuizAverage(
                quiz_id=quiz_id,
                name=name,
                chapter=chapter,
                subject=subject,
                attempts=attempts,
                learners=learners,
                average_percent=average_percent(correct, questions),
                under_half=int(under_half),
                correct=int(correct),
                questions=int(questions),
            )
        )
    return quizzes


def _subjects(session: Session, month: Month) -> list[SubjectAverage]:
    rows = session.connection().execute(
        select(Subject.id, Subject.name, *_sums())
        .select_from(Score)
        .join(Quiz, Quiz.id == Score.quiz_id)
        .join(Chapter, Chapter.id == Quiz.chapter_id)
        .join(Subject, Subject.id == Chapter.subject_id)
        .where(in_month(month), _of_learners())
        .group_by(Subject.id, Subject.name)
        .order_by(Subject.name, Subject.id)
    )
    return [
        SubjectAverage(
            subject_id=subject_id,
            name=name,
            attempts=attempts,
            learners=learners,
            average_percent=average_percent(correct, questions),
        )
        for subject_id, name, attempts, learners, correct, questions in rows
    ]


def per_learner(month: Month):
    """Each learner with attempts in the month or the month before: attempts, correct
    answers and questions in each (a subquery, one row per learner)."""
    before = month.previous()

    def summed(when, value):
        return func.coalesce(func.sum(case((when, value), else_=0)), 0)

    now = Score.timestamp >= month.start
    was = Score.timestamp < month.start
    return (
        select(
            Score.user_id.label("user_id"),
            summed(now, 1).label("attempts"),
            summed(now, Score.total_scored).label("correct"),
            summed(now, Score.total_questions).label("questions"),
            summed(was, 1).label("previous_attempts"),
            summed(was, Score.total_scored).label("previous_correct"),
            summed(was, Score.total_questions).label("previous_questions"),
        )
        .where(Score.timestamp >= before.start, Score.timestamp < month.end, _of_learners())
        .group_by(Score.user_id)
        .subquery("per_learner")
    )


def _distribution(session: Session, month: Month) -> tuple[list[Bin], int]:
    """The bins of the learners' averages this month, and how many learners had attempts."""
    learners = (
        select(
            func.sum(Score.total_scored).label("correct"),
            func.sum(Score.total_questions).label("questions"),
        )
        .where(in_month(month), _of_learners())
        .group_by(Score.user_id)
        .subquery("this_month")
    )
    # In whole numbers, so that no average lands in the wrong bin by a rounding error: 10 ×
    # correct ÷ questions, rounded down; 100 % (or more, from an odd row of the platform) is
    # the last bin, and no questions at all count as 0 %, as the learner's report says.
    bin_of = case(
        (learners.c.questions == 0, 0),
        (learners.c.correct >= learners.c.questions, BINS - 1),
        else_=(learners.c.correct * BINS) // learners.c.questions,
    ).label("bin")
    counts = dict(session.connection().execute(select(bin_of, func.count()).group_by(bin_of)).all())
    bins = [
        Bin(
            low=n * BIN_WIDTH,
            high=100 if n == BINS - 1 else n * BIN_WIDTH + BIN_WIDTH - 1,
            learners=counts.get(n, 0),
        )
        for n in range(BINS)
    ]
    return bins, sum(counts.values())


def _percent(correct, questions):
    return case((questions == 0, literal(0.0)), else_=correct * 100.0 / questions)


def _improved(session: Session, learners) -> list[Improvement]:
    gain = _percent(learners.c.correct, learners.c.questions) - _percent(
        learners.c.previous_correct, learners.c.previous_questions
    )
    name = func.coalesce(User.full_name, User.username)
    rows = session.connection().execute(
        select(
            User.id,
            name,
            learners.c.previous_attempts,
            learners.c.previous_correct,
            learners.c.previous_questions,
            learners.c.attempts,
            learners.c.correct,
            learners.c.questions,
        )
        .join(User, User.id == learners.c.user_id)
        .where(learners.c.attempts > 0, learners.c.previous_attempts > 0, gain > 0)
        .order_by(desc(gain), func.lower(name), User.id)
        .limit(TOP)
    )
    found = [
        Improvement(
            user_id=user_id,
            name=name,
            previous_attempts=prev_attempts,
            previous_percent=average_percent(prev_correct, prev_questions),
            attempts=attempts,
            percent=average_percent(correct, questions),
        )
        for (
            user_id,
            name,
            prev_attempts,
            prev_correct,
            prev_questions,
            attempts,
            correct,
            questions,
        ) in rows
    ]
    # A gain that rounds to 0.00 is no gain to show.
    return [row for row in found if row.change > 0]


def _hardest(quizzes: list[QuizAverage]) -> list[QuizAverage]:
    # From the per-quiz rows already read: at most a few hundred quizzes, no second scan.
    ranked = sorted(
        quizzes, key=lambda q: (q.average_percent, -q.under_half_percent, -q.attempts, q.name)
    )
    return ranked[:TOP]


def _absent_ids(session: Session, month: Month) -> list[int]:
    tried = select(Score.id).where(Score.user_id == User.id, in_month(month)).exists()
    name = func.lower(func.coalesce(User.full_name, User.username))
    return list(
        session.scalars(
            select(User.id).where(User.role == Role.LEARNER, ~tried).order_by(name, User.id)
        )
    )


def class_month(session: Session, month: Month) -> ClassMonth:
    """The teacher's view of `month`, worked out now: a handful of grouped queries, whatever
    the class size (about a second at 10,000 learners; teaching_store keeps the result)."""
    quizzes = _quizzes(session, month)
    learners = per_learner(month)
    distribution, active = _distribution(session, month)
    attempts = sum(q.attempts for q in quizzes)
    absent_ids = _absent_ids(session, month)
    return ClassMonth(
        month=month,
        learners=active + len(absent_ids),
        active=active,
        attempts=attempts,
        average_percent=(
            average_percent(sum(q.correct for q in quizzes), sum(q.questions for q in quizzes))
            if attempts
            else None
        ),
        subjects=_subjects(session, month),
        quizzes=quizzes,
        distribution=distribution,
        hardest=_hardest(quizzes),
        improved=_improved(session, learners),
        absent_ids=absent_ids,
    )


def absent(session: Session, view: ClassMonth, number: int, per_page: int) -> Page:
    """Page `number` of the learners with no attempt in the month, by name: rows of
    AbsentLearner, read by id from the list the figures keep (no scan of the attempts)."""
    total = len(view.absent_ids)
    pages = max((total + per_page - 1) // per_page, 1)
    number = min(max(number, 1), pages)
    ids = view.absent_ids[(number - 1) * per_page : number * per_page]
    found = {}
    if ids:
        rows = session.connection().execute(
            select(User.id, User.full_name, User.username, User.email).where(User.id.in_(ids))
        )
        found = {
            row.id: AbsentLearner(row.id, row.full_name or row.username, row.email) for row in rows
        }
    # A learner removed since the figures were worked out is left out of the page.
    return Page(rows=[found[i] for i in ids if i in found], number=number, pages=pages, total=total)
