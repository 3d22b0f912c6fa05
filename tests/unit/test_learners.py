"""Learner search: the same matches on SQLite and PostgreSQL, and pages with their total."""

import pytest
from sqlalchemy import text

from tests.helpers.factories import make_admin
from tests.helpers.factories import make_user
from webapp.core import learners


@pytest.fixture
def people(session):
    make_admin(session)
    for name, username, email in [
        ("Tomás Ortega", "tortega", "tomas@example.test"),
        ("Priya Raman", "priya_r", "PRIYA@Example.test"),
        ("Amara Okafor", "amara", "amara@example.test"),
        ("Ortwin 100%", "ortwin", "ortwin@example.test"),
    ]:
        make_user(session, full_name=name, username=username, email=email)
    session.commit()


def names(page) -> list[str]:
    return [user.full_name for user in page.rows]


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ORTEGA", ["Tomás Ortega"]),
        ("ort", ["Ortwin 100%", "Tomás Ortega"]),
        ("priya@example", ["Priya Raman"]),  # the address is stored in capitals
        ("_r", ["Priya Raman"]),  # LIKE's wildcards are literal
        ("100%", ["Ortwin 100%"]),
        ("example.test", ["Amara Okafor", "Ortwin 100%", "Priya Raman", "Tomás Ortega"]),
        ("Ada", []),  # admins are not learners
    ],
)
def test_search_ignores_case_and_takes_wildcards_literally(session, people, text, expected):
    page = learners.search(session, text, 1, 10)
    assert (names(page), page.total) == (expected, len(expected))


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_search_pages_carry_the_total_and_a_page_past_the_end_is_the_last(session, people):
    first = learners.search(session, "example", 1, 3)
    assert (first.number, first.pages, first.total, len(first.rows)) == (1, 2, 4, 3)
    past = learners.search(session, "example", 7, 3)
    assert (past.number, past.pages, past.total, names(past)) == (2, 2, 4, ["Tomás Ortega"])
    none = learners.search(session, "nobody", 1, 3)
    assert (none.number, none.pages, none.total, none.rows) == (1, 1, 0, [])


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_postgresql_can_answer_a_search_from_its_trigram_indexes(session, people):
    """Each column the search reads has an index for ILIKE '%...%' (the planner picks them on
    a large table; on this small one it is told not to read the table)."""
    session.execute(text("SET LOCAL enable_seqscan = off"))
    for column in ("full_name", "username", "email"):
        plan = session.execute(
            text(f"EXPLAIN SELECT id FROM \"user\" WHERE {column} ILIKE '%ortega%'")
        ).scalars()
        assert any(f"ix_user_{column}_trgm" in line for line in plan), column
