"""Deterministic demo data: subjects, chapters, quizzes, learners and their attempts."""

import random
from datetime import timedelta

from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select

from webapp.core.models import Chapter
from webapp.core.models import Question
from webapp.core.models import Quiz
from webapp.core.models import Score
from webapp.core.models import Subject
from webapp.core.models import User
from webapp.core.months import Month
from webapp.core.states import Role
from webapp.infra.database import refresh_statistics

CURRICULUM = {
    "Mathematics": ["Algebra", "Geometry", "Probability", "Calculus"],
    "Physics": ["Mechanics", "Optics", "Electricity"],
    "Chemistry": ["Atomic Structure", "Organic Chemistry", "Chemical Bonding"],
    "Biology": ["Cell Biology", "Genetics", "Ecology"],
    "Computer Science": ["Algorithms", "Databases", "Networks"],
    "English": ["Grammar", "Comprehension", "Vocabulary"],
}
FIRST = [
    "Aarav",
    "Aditi",
    "Amara",
    "Arjun",
    "Beatriz",
    "Chen",
    "Chloe",
    "Dario",
    "Divya",
    "Elena",
    "Emeka",
    "Farah",
    "Felix",
    "Grace",
    "Hana",
    "Ines",
    "Isaac",
    "Jamal",
    "Jia",
    "Kavya",
    "Kenji",
    "Lena",
    "Liam",
    "Maya",
    "Mateo",
    "Nadia",
    "Noah",
    "Olga",
    "Omar",
    "Priya",
    "Quinn",
    "Rahul",
    "Rosa",
    "Sami",
    "Sara",
    "Tariq",
    "Uma",
    "Viktor",
    "Wei",
    "Yara",
    "Zoe",
]
LAST = [
    "Agarwal",
    "Banerjee",
    "Costa",
    "Dubois",
    "Evans",
    "Fischer",
    "Garcia",
    "Haddad",
    "Ito",
    "Jensen",
    "Khan",
    "Lopez",
    "Mehta",
    "Nakamura",
    "Okafor",
    "Patel",
    "Quispe",
    "Rossi",
    "Silva",
    "Tanaka",
    "Usman",
    "Varga",
    "Wang",
    "Xu",
    "Yilmaz",
    "Zhang",
]
QUALIFICATIONS = ("High school", "B.Sc.", "B.Tech.", "B.A.", "M.Sc.", "Diploma")
QUESTION_COUNTS = (5, 10, 10, 15, 20)
BATCH = 5000


def has_data(session) -> bool:
    """True when the database holds learners already."""
    return bool(
        session.scalar(select(func.count()).select_from(User).where(User.role == Role.LEARNER))
    )


def _curriculum(session, rng: random.Random) -> list[tuple[int, int]]:
    """The subjects, chapters and quizzes with their questions; (quiz id, its question count)."""
    quizzes = []
    for subject_name, chapters in CURRICULUM.items():
        subject = Subject(name=subject_name, description=f"{subject_name} practice quizzes")
        session.add(subject)
        session.flush()
        for chapter_name in chapters:
            chapter = Chapter(subject_id=subject.id, name=chapter_name)
            session.add(chapter)
            session.flush()
            for n in range(1, rng.randint(2, 3) + 1):
                quiz = Quiz(
                    chapter_id=chapter.id, name=f"{chapter_name} quiz {n}", time_duration="00:20"
                )
                session.add(quiz)
                session.flush()
                # One count per quiz, as on the platform: its questions and every attempt at it.
                count = rng.choice(QUESTION_COUNTS)
                quizzes.append((quiz.id, count))
                session.execute(
                    insert(Question),
                    [
                        {
                            "quiz_id": quiz.id,
                            "question_statement": f"{chapter_name}: question {k}",
                            "option1": "A",
                            "option2": "B",
                            "option3": "C",
                            "option4": "D",
                            "correct_option": rng.randint(1, 4),
                        }
                        for k in range(1, count + 1)
                    ],
                )
    return quizzes


def seed(
    session,
    *,
    users: int,
    months: int = 3,
    seed: int = 1,
    attempts: int = 20,
    email_domain: str = "learners.example",
) -> dict:
    """Create `users` learners with about `attempts` attempts in each of the last `months`
    full months. The same seed gives the same data."""
    rng = random.Random(seed)
    quizzes = _curriculum(session, rng)
    user_rows = []
    for i in range(1, users + 1):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        handle = f"{first.lower()}.{last.lower()}.{i}"
        user_rows.append(
            {
                "username": handle,
                "email": f"{handle}@{email_domain}",
                "full_name": f"{first} {last}",
                "qualification": rng.choice(QUALIFICATIONS),
                "role": Role.LEARNER,
            }
        )
    for start in range(0, len(user_rows), BATCH):
        session.execute(insert(User), user_rows[start : start + BATCH])
    # Ids come from the database (PostgreSQL's sequence must see every insert).
    ids = dict(
        session.execute(select(User.username, User.id).where(User.role == Role.LEARNER)).all()
    )
    for row in user_rows:
        row["id"] = ids[row["username"]]
    month = Month.last_full()
    month_list = []
    for _ in range(months):
        month_list.append(month)
        month = month.previous()
    scores = 0
    batch = []
    for row in user_rows:
        skill = rng.uniform(0.35, 0.95)
        # About one learner in twelve skips a month, so empty reports show up too.
        for m in month_list:
            if rng.random() < 0.08:
                continue
            span = (m.end - m.start).total_seconds()
            for _ in range(max(1, int(rng.gauss(attempts, attempts / 4)))):
                quiz_id, total = rng.choice(quizzes)
                scored = max(0, min(total, round(rng.gauss(skill, 0.15) * total)))
                batch.append(
                    {
                        "quiz_id": quiz_id,
                        "user_id": row["id"],
                        "timestamp": m.start + timedelta(seconds=int(rng.random() * span)),
                        "total_scored": scored,
                        "total_questions": total,
                    }
                )
            if len(batch) >= BATCH:
                session.execute(insert(Score), batch)
                scores += len(batch)
                batch = []
    if batch:
        session.execute(insert(Score), batch)
        scores += len(batch)
    session.commit()
    refresh_statistics(session.connection())
    session.commit()
    return {"learners": users, "attempts": scores, "months": [str(m) for m in month_list]}
