"""Small make_* helpers: each adds a row, flushes and returns it."""

from datetime import datetime
from itertools import count

from webapp.core.models import Chapter
from webapp.core.models import Quiz
from webapp.core.models import Score
from webapp.core.models import Subject
from webapp.core.models import User

_seq = count(1)


def make_user(session, **kw) -> User:
    n = next(_seq)
    kw.setdefault("username", f"learner{n}")
    kw.setdefault("email", f"{kw['username']}@example.test")
    kw.setdefault("full_name", f"Learner {n}")
    kw.setdefault("qualification", "B.Sc.")
    kw.setdefault("role", "user")
    password = kw.pop("password", None)
    user = User(**kw)
    if password:
        user.set_password(password)
    session.add(user)
    session.flush()
    return user


def make_admin(session, email="admin@example.test", password="correct horse battery") -> User:
    return make_user(
        session, username=email, email=email, full_name="Ada Admin", role="admin", password=password
    )


def make_subject(session, name="Mathematics") -> Subject:
    s = Subject(name=name)
    session.add(s)
    session.flush()
    return s


def make_chapter(session, subject, name="Algebra") -> Chapter:
    c = Chapter(subject_id=subject.id, name=name)
    session.add(c)
    session.flush()
    return c


def make_quiz(session, chapter, name="Quiz 1") -> Quiz:
    q = Quiz(chapter_id=chapter.id, name=name)
    session.add(q)
    session.flush()
    return q


def make_score(session, user, quiz, when: datetime, scored: int, total: int) -> Score:
    s = Score(
        user_id=user.id, quiz_id=quiz.id, timestamp=when, total_scored=scored, total_questions=total
    )
    session.add(s)
    session.flush()
    return s
