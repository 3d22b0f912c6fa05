"""Reports built by hand (no database): the dataclasses the renderer and insights take."""

import dataclasses

from webapp.core.months import Month
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

DEC = Month(2024, 12)
NOV = Month(2024, 11)
CHANGE = Change(attempts=2, average_percent=3.0)


def history(*points: tuple[int, float | None]) -> list[MonthFigures]:
    """Six months up to December 2024, oldest first, from (attempts, average) pairs."""
    months = [DEC]
    while len(months) < len(points):
        months.insert(0, months[0].previous())
    return [MonthFigures(m, n, avg) for m, (n, avg) in zip(months, points, strict=True)]


def totals(attempts: int, questions: int, correct: int, average: float) -> Totals:
    """Totals by keyword."""
    return Totals(attempts=attempts, questions=questions, correct=correct, average_percent=average)


def attempt_of_ten(score_id, date, subject, chapter, quiz, quiz_id, scored, rank, of):
    """One attempt at a quiz of ten questions."""
    return AttemptResult(
        score_id=score_id,
        date=date,
        subject=subject,
        chapter=chapter,
        quiz=quiz,
        quiz_id=quiz_id,
        scored=scored,
        total=10,
        percent=scored * 10.0,
        rank=rank,
        of=of,
    )


def with_insights(report: Report) -> Report:
    """The report with the insights and recommendations the product writes for it."""
    insights, recommendations = insights_for(report)
    return dataclasses.replace(report, insights=insights, recommendations=recommendations)


def make_report(subject_name: str = "Mathematics", **user) -> Report:
    """Alice's December 2024: three quizzes in Mathematics and Physics, up on November."""
    learner = {
        "id": 7,
        "username": "alice",
        "email": "alice@example.test",
        "full_name": "Alice Able",
        "qualification": "B.Sc.",
        **user,
    }
    report = Report(
        learner=Learner(**learner),
        month=DEC,
        totals=totals(3, 30, 20, 66.67),
        subjects=[
            SubjectResult(subject_id=1, name=subject_name, totals=totals(2, 20, 17, 85.0)),
            SubjectResult(subject_id=2, name="Physics", totals=totals(1, 10, 3, 30.0)),
        ],
        attempts=[
            attempt_of_ten(
                11, "2024-12-02T10:00:00", "Mathematics", "Algebra", "Quadratics", 1, 9, 1, 12
            ),
            attempt_of_ten(
                12, "2024-12-09T18:30:00", "Mathematics", "Geometry", "Triangles", 2, 8, 2, 3
            ),
            attempt_of_ten(13, "2024-12-31T23:59:59", "Physics", "Optics", "Lenses", 3, 3, 4, 4),
        ],
        chapters=[
            ChapterResult(1, "Algebra", "Mathematics", totals(1, 10, 9, 90.0)),
            ChapterResult(2, "Geometry", "Mathematics", totals(1, 10, 8, 80.0)),
            ChapterResult(3, "Optics", "Physics", totals(1, 10, 3, 30.0)),
        ],
        days_active=3,
        previous=PreviousMonth(month=NOV, totals=totals(2, 20, 10, 50.0)),
        change=Change(attempts=1, average_percent=16.67),
        first_month=False,
        insights=[],
        recommendations=[],
        history=history((0, None), (4, 72.5), (1, 100.0), (0, None), (2, 50.0), (3, 66.67)),
    )
    return with_insights(report)


def make_empty_report() -> Report:
    """Alice's December 2024 without a quiz (after two in November)."""
    report = dataclasses.replace(
        make_report(),
        totals=totals(0, 0, 0, 0.0),
        subjects=[],
        attempts=[],
        chapters=[],
        days_active=0,
        change=None,
        history=history((0, None), (4, 72.5), (1, 100.0), (0, None), (2, 50.0), (0, None)),
    )
    return with_insights(report)


def make_biology_report(change: Change | None = CHANGE, first_month: bool = False) -> Report:
    """Bea's December 2024 without insights: six Biology quizzes at 75 % on five days."""
    return Report(
        learner=Learner(1, "bea", "bea@example.test", "Bea", None),
        month=DEC,
        totals=totals(6, 60, 45, 75.0),
        subjects=[SubjectResult(1, "Biology", Totals(6, 60, 45, 75.0))],
        chapters=[],
        attempts=[attempt_of_ten(1, "2024-12-01T10:00:00", "Biology", "Cells", "Q", 1, 8, 1, 1)],
        days_active=5,
        previous=PreviousMonth(month=NOV, totals=Totals(4, 40, 29, 72.0)),
        change=change,
        first_month=first_month,
        insights=[],
        recommendations=[],
    )


def make_weak_report() -> Report:
    """Wes's December 2024: eleven chapters in three subjects, every one under 60 %."""
    names = {
        "Biology": ["Cells", "Genetics", "Ecology", "Evolution"],
        "Chemistry": ["Atoms", "Bonding", "Acids"],
        "English": ["Grammar", "Vocabulary", "Poetry", "Comprehension"],
    }
    attempts, chapters, subjects = [], [], []
    score_id = 100
    for subject_id, (subject, chapter_names) in enumerate(names.items(), start=1):
        subject_attempts = []
        for chapter_name in chapter_names:
            score_id += 1
            scored = 2 + score_id % 4  # 2 to 5 of 10: 20 % to 50 %
            quiz = f"{chapter_name} quiz {1 + score_id % 3}"
            a = attempt_of_ten(
                score_id,
                f"2024-12-{score_id - 90:02}T17:00:00",
                subject,
                chapter_name,
                quiz,
                score_id,
                scored,
                20,
                30,
            )
            subject_attempts.append(a)
            chapters.append(
                ChapterResult(score_id, chapter_name, subject, totals(1, 10, scored, scored * 10.0))
            )
        correct = sum(a.scored for a in subject_attempts)
        n = len(subject_attempts)
        subjects.append(
            SubjectResult(subject_id, subject, totals(n, n * 10, correct, correct * 10.0 / n))
        )
        attempts += subject_attempts
    correct = sum(a.scored for a in attempts)
    n = len(attempts)
    report = Report(
        learner=Learner(9, "wes", "wes@example.test", "Wes Weaver", None),
        month=DEC,
        totals=totals(n, n * 10, correct, round(correct * 10.0 / n, 2)),
        subjects=subjects,
        chapters=chapters,
        attempts=attempts,
        days_active=9,
        previous=PreviousMonth(month=NOV, totals=totals(8, 80, 31, 38.75)),
        change=Change(attempts=n - 8, average_percent=round(correct * 10.0 / n - 38.75, 2)),
        first_month=False,
        insights=[],
        recommendations=[],
        history=history(
            (5, 45.0), (6, 41.67), (7, 40.0), (9, 42.22), (8, 38.75), (n, correct * 10.0 / n)
        ),
    )
    return with_insights(report)


# A busy learner's curriculum: subject, then chapters with the topic of their quizzes. Long
# names, as real courses have them, so the report is as wide and as heavy as a month gets (the
# email's size and its fit on a phone are tested on it).
_CURRICULUM = (
    (
        "Mathematics",
        (
            ("Linear algebra and matrices", "eigenvalues, eigenvectors and diagonalisation"),
            ("Probability and statistics", "conditional probability and Bayes' theorem"),
        ),
    ),
    (
        "Physics",
        (
            ("Thermodynamics and statistical mechanics", "entropy, enthalpy and free energy"),
            ("Electromagnetism and optics", "Maxwell's equations and wave propagation"),
        ),
    ),
    (
        "Chemistry",
        (
            ("Organic chemistry: reaction mechanisms", "nucleophilic substitution (SN1/SN2)"),
            ("Acids, bases and buffers", "pH, pKa and the Henderson-Hasselbalch equation"),
        ),
    ),
    (
        "Biology",
        (
            ("Cell biology and molecular genetics", "DNA replication, transcription, translation"),
            ("Human physiology", "the cardiovascular and respiratory systems"),
        ),
    ),
    (
        "Computer Science and Programming",
        (
            ("Algorithms and data structures", "balanced search trees and heaps"),
            ("Databases", "normal forms, joins and transactions"),
        ),
    ),
    (
        "History of Science and Technology",
        (("The Industrial Revolution and its engines", "steam power from Newcomen to Watt"),),
    ),
)
_QUIZ_KINDS = ("Warm-up", "Practice set", "Chapter review", "Timed exam rehearsal (hard)")
_QUESTIONS = (10, 15, 20, 25)


def _busy_attempts(count: int) -> list[AttemptResult]:
    chapters = [(subject, *chapter) for subject, names in _CURRICULUM for chapter in names]
    attempts = []
    for i in range(count):
        # Chapters in turn, a harder kind of quiz each round, so some quizzes are retaken.
        chapter_no = i % len(chapters)
        kind_no = (i // len(chapters)) % len(_QUIZ_KINDS)
        subject, chapter, topic = chapters[chapter_no]
        total = _QUESTIONS[(i + kind_no) % len(_QUESTIONS)]
        scored = (i * 7 + 3) % (total + 1)
        day, hour, minute = 1 + i * 28 // count, 7 + (i * 5) % 15, (i * 13) % 60
        rank = 1 + (i * 3) % 17
        attempts.append(
            AttemptResult(
                score_id=0,  # numbered below, in the order of time
                subject=subject,
                chapter=chapter,
                quiz=f"{_QUIZ_KINDS[kind_no]}: {topic}",
                quiz_id=100 + chapter_no * len(_QUIZ_KINDS) + kind_no,
                scored=scored,
                total=total,
                date=f"2024-12-{day:02d}T{hour:02d}:{minute:02d}:00",
                percent=round(scored * 100.0 / total, 2),
                rank=rank,
                of=rank + 4 + (i * 11) % 230,
            )
        )
    attempts.sort(key=lambda a: a.date)  # the builder's order
    return [dataclasses.replace(a, score_id=1000 + n) for n, a in enumerate(attempts)]


def _totals_of(attempts: list[AttemptResult]) -> Totals:
    questions, correct = sum(a.total for a in attempts), sum(a.scored for a in attempts)
    return totals(len(attempts), questions, correct, round(correct * 100.0 / questions, 2))


def make_busy_report(attempts: int = 60) -> Report:
    """Maximiliane's December 2024: `attempts` quizzes over six subjects and eleven chapters
    on most days of the month, long names everywhere, after 40 quizzes in November."""
    results = _busy_attempts(attempts)
    subjects = {a.subject: [b for b in results if b.subject == a.subject] for a in results}
    chapters = {
        (a.subject, a.chapter): [b for b in results if b.chapter == a.chapter] for a in results
    }
    report = Report(
        learner=Learner(
            id=42,
            username="maximiliane.wolfeschlegel",
            email="maximiliane.wolfeschlegel@example.test",
            full_name="Maximiliane Alexandra Wolfeschlegelsteinhausen-Bergdorff",
            qualification="M.Sc. Environmental Engineering (part-time, second year)",
        ),
        month=DEC,
        totals=_totals_of(results),
        subjects=[
            SubjectResult(subject_id=no, name=name, totals=_totals_of(group))
            for no, (name, group) in enumerate(sorted(subjects.items()), start=1)
        ],
        chapters=[
            ChapterResult(no, chapter, subject, _totals_of(group))
            for no, ((subject, chapter), group) in enumerate(sorted(chapters.items()), start=1)
        ],
        attempts=results,
        days_active=len({a.date[:10] for a in results}),
        previous=PreviousMonth(month=NOV, totals=totals(40, 600, 390, 65.0)),
        change=None,
        first_month=False,
        insights=[],
        recommendations=[],
    )
    change = Change(
        attempts=attempts - 40,
        average_percent=round(report.totals.average_percent - 65.0, 2),
    )
    trend = history(
        (30, 58.0),
        (35, 61.5),
        (0, None),
        (38, 63.0),
        (40, 65.0),
        (attempts, report.totals.average_percent),
    )
    return with_insights(dataclasses.replace(report, change=change, history=trend))


def make_strong_report() -> Report:
    """Sam's December 2024: every subject and chapter strong, rising for months."""
    report = dataclasses.replace(
        make_report(full_name="Sam Strong", username="sam"),
        totals=totals(3, 30, 27, 90.0),
        subjects=[
            SubjectResult(subject_id=1, name="Mathematics", totals=totals(2, 20, 19, 95.0)),
            SubjectResult(subject_id=2, name="Physics", totals=totals(1, 10, 8, 80.0)),
        ],
        attempts=[
            attempt_of_ten(
                21, "2024-12-02T10:00:00", "Mathematics", "Algebra", "Quadratics", 1, 10, 1, 12
            ),
            attempt_of_ten(
                22, "2024-12-09T18:30:00", "Mathematics", "Geometry", "Triangles", 2, 9, 2, 30
            ),
            attempt_of_ten(23, "2024-12-20T16:00:00", "Physics", "Optics", "Lenses", 3, 8, 3, 9),
        ],
        chapters=[
            ChapterResult(1, "Algebra", "Mathematics", totals(1, 10, 10, 100.0)),
            ChapterResult(2, "Geometry", "Mathematics", totals(1, 10, 9, 90.0)),
            ChapterResult(3, "Optics", "Physics", totals(1, 10, 8, 80.0)),
        ],
        days_active=6,
        previous=PreviousMonth(month=NOV, totals=totals(3, 30, 25, 83.33)),
        change=Change(attempts=0, average_percent=6.67),
        history=history((2, 70.0), (3, 73.33), (2, 80.0), (4, 82.5), (3, 83.33), (3, 90.0)),
    )
    return with_insights(report)
