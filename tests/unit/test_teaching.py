"""The teacher's view of a month on a small class whose every figure is worked out by hand."""

import json
from datetime import datetime

import pytest
from sqlalchemy import select

from tests.helpers.factories import make_chapter
from tests.helpers.factories import make_class_world
from tests.helpers.factories import make_quiz
from tests.helpers.factories import make_score
from tests.helpers.factories import make_subject
from tests.helpers.factories import make_user
from webapp.core import teaching
from webapp.core import teaching_store
from webapp.core.models import Quiz
from webapp.core.models import User
from webapp.core.months import Month

DECEMBER = Month(2024, 12)
NOV = datetime(2024, 11, 15, 12)
DEC = datetime(2024, 12, 10, 12)


@pytest.fixture
def school(session) -> dict:
    """The class world (tests/helpers/factories.py): learners' ids by username."""
    return make_class_world(session)


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_the_class_month_adds_up_on_both_databases(session, school):
    view = teaching.class_month(session, DECEMBER)
    assert (view.learners, view.active, view.absent, view.attempts) == (8, 6, 2, 8)
    assert view.average_percent == 46.55  # 27 of 58

    assert [(s.name, s.attempts, s.learners, s.average_percent) for s in view.subjects] == [
        ("Mathematics", 6, 5, 45.83),  # 22 of 48
        ("Physics", 2, 2, 50.0),
    ]
    rows = [
        (q.subject, q.chapter, q.name, q.attempts, q.learners, q.average_percent, q.under_half)
        for q in view.quizzes
    ]
    assert rows == [
        ("Mathematics", "Algebra", "Linear equations", 4, 4, 40.0, 2),
        ("Mathematics", "Algebra", "Quadratics", 2, 2, 75.0, 0),  # 50 % is not under half
        ("Physics", "Optics", "Lenses", 2, 2, 50.0, 1),
    ]
    assert [q.name for q in view.hardest] == ["Linear equations", "Lenses", "Quadratics"]
    assert view.hardest[0].under_half_percent == 50.0

    # hal 0 %, gus 10 % (the edge is the upper bin's), ben 40 %, dee 50 %, ana 92.86 %, cy 100 %
    assert [b.learners for b in view.distribution] == [1, 1, 0, 0, 1, 1, 0, 0, 0, 2]
    assert [b.label for b in view.distribution][::9] == ["0–9 %", "90–100 %"]

    improved = [(i.name, i.previous_percent, i.percent, i.change) for i in view.improved]
    assert improved == [
        ("Ana Alves", 50.0, 92.86, 42.86),
        ("Dee Dunn", 25.0, 50.0, 25.0),
        ("Gus Gray", 0.0, 10.0, 10.0),
    ]  # ben went down; cy and hal had no November
    assert view.improved[0].user_id == school["ana"]

    page = teaching.absent(session, view, 1, 25)
    assert [(r.id, r.name) for r in page.rows] == [
        (school["eve"], "Eve Evans"),
        (school["fay"], "Fay Fox"),
    ]
    assert (page.number, page.pages, page.total) == (1, 1, 2)


def test_a_month_without_attempts_is_all_absent(session, school):
    view = teaching.class_month(session, Month(2024, 10))
    assert (view.active, view.attempts, view.average_percent) == (0, 0, None)
    assert view.subjects == view.quizzes == view.hardest == view.improved == []
    assert [b.learners for b in view.distribution] == [0] * 10
    assert view.absent == 8
    # November: no learner of it had a month before to improve on.
    assert teaching.class_month(session, Month(2024, 11)).improved == []


def test_lists_stop_at_ten_and_the_absent_are_paged(session):
    chapter = make_chapter(session, make_subject(session, "Chemistry"), "Bonds")
    quizzes = [make_quiz(session, chapter, f"Quiz {n:02d}") for n in range(12)]
    for n in range(12):
        user = make_user(session, full_name=f"Learner {n:02d}")
        make_score(session, user, quizzes[n], NOV, 0, 12)
        make_score(session, user, quizzes[n], DEC, n, 12)
    for n in range(30):
        make_user(session, full_name=f"Zz Absent {n:02d}")
    session.commit()
    view = teaching.class_month(session, DECEMBER)
    assert [q.name for q in view.hardest] == [f"Quiz {n:02d}" for n in range(10)]
    # Learner 00 stayed at 0 %: no gain, so not listed.
    assert [i.name for i in view.improved] == [f"Learner {n:02d}" for n in range(11, 1, -1)]
    second = teaching.absent(session, view, 2, 25)
    assert (second.number, second.pages, second.total) == (2, 2, 30)
    assert [r.name for r in second.rows] == [f"Zz Absent {n:02d}" for n in range(25, 30)]


# --- Kept figures ---------------------------------------------------------------------------


class DictStore:
    """The key-value store as a dict; `broken` makes every call fail, as a store that is down."""

    def __init__(self) -> None:
        self.values: dict = {}
        self.broken = False

    def get(self, key):
        if self.broken:
            raise ConnectionError("store down")
        return self.values.get(key)

    def put(self, key, value):
        if self.broken:
            raise ConnectionError("store down")
        self.values[key] = json.loads(json.dumps(value))  # as JSON goes in and out

    def put_json(self, key, text):
        self.values[key] = json.loads(text)

    def delete(self, key):
        self.values.pop(key, None)


def test_kept_figures_read_back_as_they_were_worked_out(session, school):
    store = DictStore()
    first = teaching_store.for_month(session, store, DECEMBER)
    assert first.view == teaching.class_month(session, DECEMBER)
    again = teaching_store.for_month(session, store, DECEMBER)
    assert again == first  # read back, not worked out again
    assert teaching_store.from_store({"version": 0}) is None
    assert teaching_store.from_store({"version": teaching_store.VERSION}) is None


def test_kept_figures_are_worked_out_again_when_they_no_longer_hold(session, school):
    store = DictStore()
    first = teaching_store.for_month(session, store, DECEMBER)
    cy = session.get(User, school["cy"])
    lenses = session.scalar(select(Quiz).where(Quiz.name == "Lenses"))
    make_score(session, cy, lenses, datetime(2025, 3, 1), 1, 5)  # another month's attempt
    session.commit()
    held = teaching_store.for_month(session, store, DECEMBER)
    assert held.computed_at == first.computed_at and held.marks != first.marks
    make_score(session, cy, lenses, datetime(2024, 11, 3), 1, 5)  # the month before's
    session.commit()
    redone = teaching_store.for_month(session, store, DECEMBER)
    assert redone.view.improved[0].name == "Cy Chen"  # 20 % in November, then 100 %
    assert redone.computed_at > first.computed_at
    make_user(session, full_name="New Learner")
    session.commit()
    assert teaching_store.for_month(session, store, DECEMBER).view.absent == 3


def test_a_month_still_going_is_kept_a_few_minutes(session, school, monkeypatch):
    store = DictStore()
    now = datetime(2024, 12, 20, 12)
    monkeypatch.setattr(teaching_store, "utcnow", lambda: now)
    first = teaching_store.for_month(session, store, DECEMBER)
    cy = session.get(User, school["cy"])
    lenses = session.scalar(select(Quiz).where(Quiz.name == "Lenses"))
    make_score(session, cy, lenses, datetime(2024, 12, 20, 12, 1), 1, 5)
    session.commit()
    now = datetime(2024, 12, 20, 12, 4)
    assert teaching_store.for_month(session, store, DECEMBER).view.attempts == 8
    now = datetime(2024, 12, 20, 12, 6)
    later = teaching_store.for_month(session, store, DECEMBER)
    assert later.view.attempts == 9 and later.computed_at > first.computed_at


def test_a_store_that_is_down_costs_time_not_the_page(session, school):
    store = DictStore()
    store.broken = True
    assert teaching_store.for_month(session, store, DECEMBER).view.attempts == 8
