"""All test data: make_* rows (each added and flushed), the small worlds the tests share, and a
seeded database for tests that run real processes."""

from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from itertools import count
from pathlib import Path

from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from tests.helpers.apps import open_app
from webapp.core import demo
from webapp.core.clock import utcnow
from webapp.core.models import Chapter
from webapp.core.models import Delivery
from webapp.core.models import Quiz
from webapp.core.models import ReportRun
from webapp.core.models import Score
from webapp.core.models import Subject
from webapp.core.models import User
from webapp.core.months import Month
from webapp.core.tokens import create_token
from webapp.web.services import get_session

ADMIN_EMAIL = "admin@example.test"
PASSWORD = "correct horse battery"
LEARNER_PASSWORD = "learner password 1"
MONTH = "2024-12"  # the month of the worlds' attempts
# The product's scrypt takes 0.3 s a check; a sign-in test needs a hash, not its strength.
FAST_HASH = "pbkdf2:sha256:1000"

_seq = count(1)


def make_user(session: Session, password: str | None = None, **kw) -> User:
    """A learner (unless role= says otherwise); with a password, one that is cheap to check."""
    n = next(_seq)
    kw.setdefault("username", f"learner{n}")
    kw.setdefault("email", f"{kw['username']}@example.test")
    kw.setdefault("full_name", f"Learner {n}")
    kw.setdefault("qualification", "B.Sc.")
    kw.setdefault("role", "user")
    user = User(**kw)
    if password:
        user.password_hash = generate_password_hash(password, method=FAST_HASH)
    session.add(user)
    session.flush()
    return user


def make_admin(session: Session, email: str = ADMIN_EMAIL, password: str = PASSWORD) -> User:
    """An admin who signs in with this email and password."""
    return make_user(
        session, username=email, email=email, full_name="Ada Admin", role="admin", password=password
    )


def make_staff(
    session: Session, role: str, email: str | None = None, password: str = PASSWORD
) -> User:
    """A staff account of this role (viewer, operator, admin) who signs in with this email
    (<role>@example.test unless given) and password."""
    email = email or f"{role}@example.test"
    return make_user(
        session,
        username=email,
        email=email,
        full_name=f"{role.capitalize()} Person",
        role=role,
        password=password,
    )


def make_subject(session: Session, name: str = "Mathematics") -> Subject:
    """A subject."""
    subject = Subject(name=name)
    session.add(subject)
    session.flush()
    return subject


def make_chapter(session: Session, subject: Subject, name: str = "Algebra") -> Chapter:
    """A chapter of the subject."""
    chapter = Chapter(subject_id=subject.id, name=name)
    session.add(chapter)
    session.flush()
    return chapter


def make_quiz(session: Session, chapter: Chapter | None = None, name: str = "Quiz 1") -> Quiz:
    """A quiz in the chapter (in a new Mathematics > Algebra chapter without one)."""
    if chapter is None:
        chapter = make_chapter(session, make_subject(session))
    quiz = Quiz(chapter_id=chapter.id, name=name)
    session.add(quiz)
    session.flush()
    return quiz


def make_score(
    session: Session, user: User, quiz: Quiz, when: datetime, scored: int, total: int
) -> Score:
    """One attempt of the user at the quiz."""
    score = Score(
        user_id=user.id, quiz_id=quiz.id, timestamp=when, total_scored=scored, total_questions=total
    )
    session.add(score)
    session.flush()
    return score


# --- Worlds ---------------------------------------------------------------------------------


@dataclass
class LearnerWorld:
    """The admin, three learners with December 2024 attempts and one without an email."""

    admin: User
    learners: list[User]
    no_email: User

    def ids(self) -> dict:
        """The world by id and address, usable after its session is gone."""
        return {
            "admin_id": self.admin.id,
            "learner_ids": [u.id for u in self.learners],
            "emails": [u.email for u in self.learners],
            "no_email_id": self.no_email.id,
        }


LEARNERS = [("priya", "Priya Raman"), ("tomas", "Tomás Ortega"), ("amara", "Amara Okafor")]


def make_learner_world(session: Session) -> LearnerWorld:
    """Priya, Tomás and Amara scored 6, 7 and 8 of 10 on one quiz in December 2024; Nadia has
    no email address; the admin signs in with ADMIN_EMAIL and PASSWORD. Committed."""
    admin = make_admin(session)
    quiz = make_quiz(session)
    learners = []
    for i, (username, name) in enumerate(LEARNERS):
        user = make_user(session, full_name=name, username=username)
        make_score(session, user, quiz, datetime(2024, 12, 5 + i, 10), 6 + i, 10)
        learners.append(user)
    no_email = make_user(session, full_name="Nadia Nomail", username="nadia", email=None)
    session.commit()
    return LearnerWorld(admin, learners, no_email)


def make_browser_world(session: Session, extra_learners: int = 0) -> dict[str, int]:
    """An admin, a learner who can sign in, four learners with December 2024 attempts (two
    quizzes each), `extra_learners` more like them and one without an email address. Committed;
    the learners' ids by name ("no email", "signin" for the last two)."""
    make_admin(session)
    chapter = make_chapter(session, make_subject(session, "Mathematics"), "Algebra")
    quizzes = [
        make_quiz(session, chapter, "Linear equations"),
        make_quiz(session, chapter, "Quadratics"),
    ]
    names = ["Priya Raman", "Tomás Ortega", "Amara Okafor", "Lena Fischer"]
    learners = {}
    for i, name in enumerate(names + [f"Learner {n:03d}" for n in range(extra_learners)]):
        username = name.lower().replace(" ", ".").replace("á", "a")
        user = make_user(session, username=username, full_name=name)
        make_score(session, user, quizzes[0], datetime(2024, 12, 3 + i % 20, 9), 7, 10)
        make_score(session, user, quizzes[1], datetime(2024, 12, 10 + i % 15, 18), 9, 10)
        learners[name] = user.id
    learners["no email"] = make_user(
        session, username="nomail", full_name="Nadia Nomail", email=None
    ).id
    learners["signin"] = make_user(
        session,
        username="sam",
        full_name="Sam Student",
        email="sam@example.test",
        password=LEARNER_PASSWORD,
    ).id
    session.commit()
    return learners


def make_report_world(session: Session) -> dict:
    """Two subjects, three chapters, four quizzes, five learners and an admin; committed.

    December 2024, learners' best percent per quiz:
      Quadratics: alice 90 (60 then 90), bob 90 (18/20), carol 95 (19/20); admin 100 ignored
      Linear equations: bob 0 (0/0)
      Triangles: alice 50 (4/8), eve 100 (8/8)
      Lenses: alice 50 (3/6 at 23:59:59 on the 31st), bob 50 (2/4);
              carol's 6/6 at 2025-01-01 00:00:00 is January
    """
    maths = make_subject(session, "Mathematics")
    physics = make_subject(session, "Physics")
    algebra = make_chapter(session, maths, "Algebra")
    geometry = make_chapter(session, maths, "Geometry")
    optics = make_chapter(session, physics, "Optics")
    q = {
        "quadratics": make_quiz(session, algebra, "Quadratics"),
        "linear": make_quiz(session, algebra, "Linear equations"),
        "triangles": make_quiz(session, geometry, "Triangles"),
        "lenses": make_quiz(session, optics, "Lenses"),
    }
    u = {
        "alice": make_user(session, username="alice", full_name="Alice Able"),
        "bob": make_user(session, username="bob", full_name="Bob Baker"),
        "carol": make_user(session, username="carol", full_name="Carol Cole"),
        "dave": make_user(session, username="dave", full_name="Dave Dunn"),
        "eve": make_user(session, username="eve", full_name="Eve Earl"),
        "admin": make_admin(session),
    }
    s = {}
    # alice: two November attempts, four in December, one in January.
    make_score(session, u["alice"], q["quadratics"], datetime(2024, 11, 10, 8), 5, 10)
    make_score(session, u["alice"], q["triangles"], datetime(2024, 11, 20, 8), 3, 10)
    s["a1"] = make_score(session, u["alice"], q["quadratics"], datetime(2024, 12, 2, 10), 6, 10)
    s["a2"] = make_score(session, u["alice"], q["quadratics"], datetime(2024, 12, 5, 9), 9, 10)
    s["a3"] = make_score(session, u["alice"], q["triangles"], datetime(2024, 12, 5, 18), 4, 8)
    s["a4"] = make_score(session, u["alice"], q["lenses"], datetime(2024, 12, 31, 23, 59, 59), 3, 6)
    # bob: active in October, nothing in November.
    make_score(session, u["bob"], q["quadratics"], datetime(2024, 10, 15, 8), 5, 10)
    s["b1"] = make_score(session, u["bob"], q["quadratics"], datetime(2024, 12, 3, 8), 18, 20)
    s["b2"] = make_score(session, u["bob"], q["lenses"], datetime(2024, 12, 10, 8), 2, 4)
    s["b3"] = make_score(session, u["bob"], q["linear"], datetime(2024, 12, 11, 8), 0, 0)
    # carol: last second of November, one December attempt, first instant of January.
    make_score(session, u["carol"], q["quadratics"], datetime(2024, 11, 30, 23, 59, 59), 10, 20)
    s["c1"] = make_score(session, u["carol"], q["quadratics"], datetime(2024, 12, 4, 8), 19, 20)
    make_score(session, u["carol"], q["lenses"], datetime(2025, 1, 1, 0, 0, 0), 6, 6)
    # eve: first ever attempt in December. dave: never.
    s["e1"] = make_score(session, u["eve"], q["triangles"], datetime(2024, 12, 20, 8), 8, 8)
    # The admin's perfect score must not count for ranks or cohort sizes.
    make_score(session, u["admin"], q["quadratics"], datetime(2024, 12, 6, 8), 10, 10)
    session.commit()
    return {"q": q, "u": u, "s": s}


def make_bulk_run(session: Session, n: int, failed_every: int = 0) -> int:
    """A running December 2024 run of n new learners, written straight into the ledger (fast):
    every failed_every-th delivery failed with a 550, the rest sent. Committed; the run's id."""
    now = utcnow()
    session.execute(
        insert(User),
        [
            {"username": f"bulk{i}", "email": f"bulk{i}@example.test", "role": "user"}
            for i in range(n)
        ],
    )
    ids = session.scalars(select(User.id).where(User.username.like("bulk%"))).all()
    run = ReportRun(task_id=f"{n:08d}-0000-0000-0000-000000000000", month=MONTH)
    run.state, run.started_at = "running", now
    session.add(run)
    session.flush()

    def failed(i: int) -> bool:
        return bool(failed_every) and i % failed_every == 0

    session.execute(
        insert(Delivery),
        [
            {
                "user_id": uid,
                "month": MONTH,
                "run_id": run.id,
                "state": "failed" if failed(i) else "sent",
                "attempts": 1,
                "last_error": "mailbox unavailable (550 5.1.1 no such user)" if failed(i) else None,
                "message_id": f"<m{uid}@quiz.example>",
                "sent_at": now,
            }
            for i, uid in enumerate(ids)
        ],
    )
    session.commit()
    return run.id


# The class world's months: a day in November 2024, and one in December.
_NOV = datetime(2024, 11, 15, 12)
_DEC = datetime(2024, 12, 10, 12)


def make_class_world(session: Session) -> dict[str, int]:
    """December 2024 (November for the change), correct of questions:

    Linear equations (Mathematics > Algebra): ana 9/10, ben 6/10, gus 1/10, hal 0/10
    Quadratics (Mathematics > Algebra): ana 4/4, dee 2/4
    Lenses (Physics > Optics): ben 0/5, cy 5/5 (at 23:59:59 on the 31st; her 0/5 at midnight
    is January's)
    November: ana 5/10, ben 8/10, gus 0/10 on Linear equations; dee 1/4; eve 3/5 on Lenses.
    fay never tried; the admin's 10/10 in December is no learner's (the admin signs in with
    ADMIN_EMAIL and PASSWORD). Committed; the learners' ids by username
    (tests/unit/test_teaching.py works every figure out).
    """
    algebra = make_chapter(session, make_subject(session, "Mathematics"), "Algebra")
    optics = make_chapter(session, make_subject(session, "Physics"), "Optics")
    linear = make_quiz(session, algebra, "Linear equations")
    quadratics = make_quiz(session, algebra, "Quadratics")
    lenses = make_quiz(session, optics, "Lenses")
    people = {
        key: make_user(session, full_name=name, username=key)
        for key, name in [
            ("ana", "Ana Alves"),
            ("ben", "Ben Brown"),
            ("cy", "Cy Chen"),
            ("dee", "Dee Dunn"),
            ("eve", "Eve Evans"),
            ("fay", "Fay Fox"),
            ("gus", "Gus Gray"),
            ("hal", "Hal Hill"),
        ]
    }
    for key, quiz, when, scored, total in [
        ("ana", linear, datetime(2024, 12, 1), 9, 10),  # the month's first instant
        ("ana", quadratics, _DEC, 4, 4),
        ("ben", linear, _DEC, 6, 10),
        ("ben", lenses, _DEC, 0, 5),
        ("cy", lenses, datetime(2024, 12, 31, 23, 59, 59), 5, 5),
        ("cy", lenses, datetime(2025, 1, 1), 0, 5),
        ("dee", quadratics, _DEC, 2, 4),
        ("gus", linear, _DEC, 1, 10),
        ("hal", linear, _DEC, 0, 10),
        ("ana", linear, _NOV, 5, 10),
        ("ben", linear, _NOV, 8, 10),
        ("gus", linear, _NOV, 0, 10),
        ("dee", quadratics, _NOV, 1, 4),
        ("eve", lenses, datetime(2024, 11, 30, 23, 59, 59), 3, 5),
    ]:
        make_score(session, people[key], quiz, when, scored, total)
    make_score(session, make_admin(session), linear, _DEC, 10, 10)
    session.commit()
    return {key: user.id for key, user in people.items()}


# --- A database for real processes ----------------------------------------------------------


@dataclass
class SeededDatabase:
    """A database written for processes to share: an admin's API token and the learners."""

    url: str
    token: str
    emails: dict[str, int]  # learner address (lower case) -> user id
    # The month a run is for: the last full one, which the demo attempts cover.
    month: str = field(default_factory=lambda: str(Month.last_full()))

    @property
    def learners(self) -> int:
        """How many learners it has."""
        return len(self.emails)


def seed_database(tmp_path: Path, database_url: str, learners: int) -> SeededDatabase:
    """Tables, demo learners with two months of attempts and an admin's API token, written
    in-process to the (empty) database the test's processes will share."""
    with open_app(tmp_path, DATABASE_URL=database_url) as app, app.app_context():
        session = get_session()
        demo.seed(session, users=learners, months=2, seed=3, attempts=6)
        admin = make_admin(session)
        session.commit()
        token = create_token(session, admin)[1]
        rows = session.execute(select(User.email, User.id).where(User.role == "user"))
        emails = {email.lower(): uid for email, uid in rows}
    return SeededDatabase(url=database_url, token=token, emails=emails)
