"""Report data for a chunk of learners, built with a handful of set-based queries.

The queries run on the session's connection: their rows are plain tuples, and the ORM's
row handling would cost more than the database does here.
"""

import dataclasses
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import case
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.core.models import Chapter
from webapp.core.models import Quiz
from webapp.core.models import Score
from webapp.core.models import Subject
from webapp.core.models import User
from webapp.core.months import Month
from webapp.core.report import standings
from webapp.core.report.data import AttemptResult
from webapp.core.report.data import Change
from webapp.core.report.data import ChapterResult
from webapp.core.report.data import Learner
from webapp.core.report.data import MonthFigures
from webapp.core.report.data import PreviousMonth
from webapp.core.report.data import Report
from webapp.core.report.data import SubjectResult
from webapp.core.report.data import Totals
from webapp.core.report.insights import insights_for
from webapp.core.report.query import PERCENT
from webapp.core.report.query import in_month
from webapp.core.report.standings import QuizBest
from webapp.core.states import Role


def average_percent(correct: int, questions: int) -> float:
    """Correct answers as a percent of questions, 2 decimals; 0 when there were none."""
    return round(correct * 100.0 / questions, 2) if questions else 0.0


def _rank(best_of_others_sorted: Sequence[float], own_best: float, pct: float) -> int:
    # Competition ranking against other learners' bests: ties share a rank, and the
    # learner's own best (which is in the list) never counts against them.
    greater = len(best_of_others_sorted) - bisect_right(best_of_others_sorted, pct)
    if own_best > pct:
        greater -= 1
    # Standings stored before the learner's best came in lack it: still never below #1.
    return max(1, 1 + greater)


def _totals(attempts: list[AttemptResult]) -> Totals:
    questions = sum(a.total for a in attempts)
    correct = sum(a.scored for a in attempts)
    return Totals(
        attempts=len(attempts),
        questions=questions,
        correct=correct,
        average_percent=average_percent(correct, questions),
    )


def _fetch_learners(session: Session, user_ids: list[int]) -> dict[int, Learner]:
    rows = session.connection().execute(
        select(User.id, User.username, User.email, User.full_name, User.qualification).where(
            User.id.in_(user_ids), User.role == Role.LEARNER
        )
    )
    return {
        r.id: Learner(
            id=r.id,
            username=r.username,
            email=r.email,
            full_name=r.full_name,
            qualification=r.qualification,
        )
        for r in rows
    }


def _fetch_attempts(session: Session, user_ids: list[int], month: Month) -> dict[int, list]:
    rows = session.connection().execute(
        select(
            Score.user_id,
            Score.timestamp,
            PERCENT.label("pct"),
            Chapter.id.label("chapter_id"),
            Subject.id.label("subject_id"),
            # Named as AttemptResult names them: each row is most of an attempt already.
            Score.id.label("score_id"),
            Subject.name.label("subject"),
            Chapter.name.label("chapter"),
            Quiz.name.label("quiz"),
            Score.quiz_id,
            Score.total_scored.label("scored"),
            Score.total_questions.label("total"),
        )
        .join(Quiz, Quiz.id == Score.quiz_id)
        .join(Chapter, Chapter.id == Quiz.chapter_id)
        .join(Subject, Subject.id == Chapter.subject_id)
        .where(Score.user_id.in_(user_ids), in_month(month))
        .order_by(Score.user_id, Score.timestamp, Score.id)
    )
    by_user: dict[int, list] = defaultdict(list)
    for r in rows:
        by_user[r.user_id].append(r)
    return by_user


# The trend picture's months, this one included.
TREND_MONTHS = 6


def _trend_months(month: Month) -> list[Month]:
    """The months before this one that the trend shows, oldest first."""
    months = [month.previous()]
    while len(months) < TREND_MONTHS - 1:
        months.append(months[-1].previous())
    return months[::-1]


# Per learner: (attempts, questions, correct) in each month of _trend_months, then how many
# attempts they made before the month at all.
History = tuple[list[tuple[int, int, int]], int]


def _fetch_history(session: Session, user_ids: list[int], month: Month) -> dict[int, History]:
    months = _trend_months(month)
    sums = []
    for m in months:
        inside = (Score.timestamp >= m.start) & (Score.timestamp < m.end)
        sums += [
            func.sum(case((inside, 1), else_=0)),
            func.sum(case((inside, Score.total_questions), else_=0)),
            func.sum(case((inside, Score.total_scored), else_=0)),
        ]
    rows = session.connection().execute(
        select(Score.user_id, func.count(), *sums)
        .where(Score.user_id.in_(user_ids), Score.timestamp < month.start)
        .group_by(Score.user_id)
    )
    history = {}
    for r in rows:
        figures = [int(v or 0) for v in r[2:]]
        per_month = [tuple(figures[i : i + 3]) for i in range(0, len(figures), 3)]
        history[r[0]] = (per_month, int(r[1]))
    return history


def _trend(month: Month, per_month: list[tuple[int, int, int]], totals: Totals) -> list:
    figures = [
        MonthFigures(m, attempts, average_percent(correct, questions) if attempts else None)
        for m, (attempts, questions, correct) in zip(_trend_months(month), per_month, strict=True)
    ]
    now = totals.average_percent if totals.attempts else None
    return [*figures, MonthFigures(month, totals.attempts, now)]


# Where an attempt row's columns that are AttemptResult's fields as they are begin.
_ATTEMPT_COLUMNS = 5


def _attempt_rows(rows, quiz_best: QuizBest) -> list[AttemptResult]:
    own_best: dict[int, float] = {}
    for r in rows:
        pct = float(r.pct)
        if pct > own_best.get(r.quiz_id, -1.0):
            own_best[r.quiz_id] = pct
    attempts = []
    for r in rows:
        pct = float(r.pct)
        # The learner is in the list unless quiz_best is stale; never report "#1 of 0".
        others = quiz_best.get(r.quiz_id) or [own_best[r.quiz_id]]
        rank = _rank(others, own_best[r.quiz_id], pct)
        # The row's last seven columns are AttemptResult's first seven fields, in order.
        fields = (r.timestamp.isoformat(), round(pct, 2), rank, len(others))
        attempts.append(AttemptResult(*r[_ATTEMPT_COLUMNS:], *fields))
    return attempts


def _grouped(rows, attempts: list[AttemptResult], key: str) -> dict[int, list[AttemptResult]]:
    groups: dict[int, list[AttemptResult]] = defaultdict(list)
    for r, a in zip(rows, attempts, strict=True):
        groups[getattr(r, key)].append(a)
    return groups


def _report(learner: Learner, month: Month, rows, history: History | None, quiz_best) -> Report:
    attempts = _attempt_rows(rows, quiz_best)
    totals = _totals(attempts)
    subjects = [
        SubjectResult(subject_id=sid, name=group[0].subject, totals=_totals(group))
        for sid, group in _grouped(rows, attempts, "subject_id").items()
    ]
    subjects.sort(key=lambda s: (s.name.casefold(), s.subject_id))
    chapters = [
        ChapterResult(
            chapter_id=cid, name=group[0].chapter, subject=group[0].subject, totals=_totals(group)
        )
        for cid, group in _grouped(rows, attempts, "chapter_id").items()
    ]
    chapters.sort(key=lambda c: (c.subject.casefold(), c.name.casefold(), c.chapter_id))

    per_month, earlier = history or ([(0, 0, 0)] * (TREND_MONTHS - 1), 0)
    prev_attempts, prev_questions, prev_correct = per_month[-1]
    previous = PreviousMonth(
        month=month.previous(),
        totals=Totals(
            attempts=prev_attempts,
            questions=prev_questions,
            correct=prev_correct,
            average_percent=average_percent(prev_correct, prev_questions),
        ),
    )
    change = None
    if prev_attempts and attempts:
        change = Change(
            attempts=totals.attempts - prev_attempts,
            average_percent=round(totals.average_percent - previous.totals.average_percent, 2),
        )
    report = Report(
        learner=learner,
        month=month,
        totals=totals,
        subjects=subjects,
        chapters=chapters,
        attempts=attempts,
        days_active=len({r.timestamp.date() for r in rows}),
        previous=previous,
        change=change,
        first_month=earlier == 0,
        insights=[],
        recommendations=[],
        history=_trend(month, per_month, totals),
    )
    insights, recommendations = insights_for(report)
    return dataclasses.replace(report, insights=insights, recommendations=recommendations)


def build_reports(
    session: Session,
    user_ids: list[int],
    month: Month,
    quiz_best: QuizBest | None = None,
) -> dict[int, Report]:
    """Report data for each learner of the chunk; unknown ids and non-learners are absent.

    quiz_best: the month's standings when the caller holds them (a run's worker).
    """
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    learners = _fetch_learners(session, ids)
    if not learners:
        return {}
    learner_ids = sorted(learners)
    attempts = _fetch_attempts(session, learner_ids, month)
    if quiz_best is None:
        quizzes = {row.quiz_id for rows in attempts.values() for row in rows}
        quiz_best = standings.for_month(session, month, quizzes)
    history = _fetch_history(session, learner_ids, month)
    return {
        uid: _report(learners[uid], month, attempts.get(uid, []), history.get(uid), quiz_best)
        for uid in learner_ids
    }


def build_report(session: Session, user_id: int, month: Month) -> Report | None:
    """Report data for one learner, or None when there is no such learner."""
    return build_reports(session, [user_id], month).get(user_id)
