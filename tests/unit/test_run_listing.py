"""The run page's list of deliveries: search (case, wildcards taken literally, limits), counts
by state from one GROUP BY or the snapshot, pages whose total comes from the counts, export."""

import dataclasses
from datetime import datetime

import pytest

from tests.helpers.database import statements_run
from tests.helpers.factories import MONTH
from tests.helpers.factories import make_user
from webapp.core import progress
from webapp.core import run_listing
from webapp.core.models import Delivery
from webapp.core.models import ReportRun
from webapp.core.states import RunState

# Who is in the run, and how their report ended.
PEOPLE = [
    ("Tomás Ortega", "tortega", "tomas@example.test", "sent"),
    ("Priya Raman", "priya_r", "PRIYA@Example.test", "failed"),
    ("Amara Okafor", "amara", "amara@example.test", "sent"),
    ("Ortwin 100%", "ortwin", "ortwin@example.test", "skipped"),
    ("Ana Lima", "ana", "ana@example.test", "pending"),
]


@pytest.fixture
def run(session) -> ReportRun:
    """A running run of PEOPLE, and one more learner in another run (never listed here)."""
    run = ReportRun(task_id="run-listing-test", month=MONTH, state=RunState.RUNNING)
    other = ReportRun(task_id="run-listing-other", month="2024-11", state=RunState.DONE)
    session.add_all([run, other])
    session.flush()
    for n, (name, username, email, state) in enumerate(PEOPLE):
        user = make_user(session, full_name=name, username=username, email=email)
        session.add(
            Delivery(
                user_id=user.id,
                month=MONTH,
                run_id=run.id,
                state=state,
                attempts=1 if state != "pending" else 0,
                message_id=f"<m{n}@quiz.example>",
            )
        )
    stranger = make_user(session, full_name="Tomasz Nowak", username="tnowak")
    session.add(Delivery(user_id=stranger.id, month="2024-11", run_id=other.id, message_id="<x@q>"))
    session.commit()
    return run


def names(rows) -> list[str]:
    return [row.full_name for row in rows]


def test_search_text_is_trimmed_and_limited():
    assert run_listing.search_text(None) == ""
    assert run_listing.search_text("  priya  ") == "priya"
    assert run_listing.search_text("x" * run_listing.MAX_SEARCH) == "x" * run_listing.MAX_SEARCH
    with pytest.raises(run_listing.SearchTextError, match="at most 100 characters"):
        run_listing.search_text("x" * (run_listing.MAX_SEARCH + 1))
    for bad in ("ana\x00", "ana\tlima", "a\nb"):
        with pytest.raises(run_listing.SearchTextError, match="control character"):
            run_listing.search_text(bad)


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", [p[0] for p in PEOPLE]),
        ("ORTEGA", ["Tomás Ortega"]),  # any case; only this run's learners
        ("priya@example", ["Priya Raman"]),  # the address is stored in capitals
        ("_r", ["Priya Raman"]),  # LIKE's wildcards are taken as themselves
        ("100%", ["Ortwin 100%"]),
        ("%", ["Ortwin 100%"]),
        ("\\", []),  # the escape character too
        ("amara", ["Amara Okafor"]),  # the username
        ("nobody", []),
    ],
)
def test_search_within_a_run_matches_name_username_or_email(session, run, text, expected):
    found = run_listing.deliveries_of(session, run.id, "", text, 1, 50)
    assert names(found.page.rows) == expected
    assert found.page.total == found.all == len(expected)


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_counts_by_state_respect_the_search_and_give_the_page_its_total(session, run):
    found = run_listing.deliveries_of(session, run.id, "sent", "", 1, 1)
    assert found.counts == {
        "pending": 1,
        "sending": 0,
        "sent": 2,
        "failed": 1,
        "skipped": 1,
        "unknown": 0,
        "cancelled": 0,
    }
    assert (found.all, found.page.total, found.page.pages) == (5, 2, 2)
    assert names(found.page.rows) == ["Tomás Ortega"]

    searched = run_listing.deliveries_of(session, run.id, "sent", "ort", 1, 50)
    assert {k: v for k, v in searched.counts.items() if v} == {"sent": 1, "skipped": 1}
    assert names(searched.page.rows) == ["Tomás Ortega"]
    assert (searched.all, searched.page.total) == (2, 1)


def test_counting_without_a_search_reads_the_ledger_alone(app, session, run):
    engine = app.extensions["runtime"].engine
    with statements_run(engine) as statements:
        run_listing.deliveries_of(session, run.id, "", "", 1, 50)
    counting = [s for s in statements if "count(" in s.lower()]
    assert len(counting) == 1 and "GROUP BY" in counting[0], statements
    assert "JOIN user" not in counting[0] and 'JOIN "user"' not in counting[0]
    assert len(statements) == 2  # the counts and the page: no count of the page's own


def test_a_closed_runs_snapshot_gives_the_counts_unless_searching(app, session, run):
    snap = progress.snapshot_of(run, run_listing.state_counts(session, run.id))
    closed = dataclasses.replace(snap, state=RunState.DONE)
    engine = app.extensions["runtime"].engine
    with statements_run(engine) as statements:
        counts = run_listing.state_counts(session, run.id, "", closed)
    assert statements == [] and counts == snap.counts
    # While the run goes on its states move between snapshots, and a search counts its own.
    with statements_run(engine) as statements:
        run_listing.state_counts(session, run.id, "", snap)
        assert run_listing.state_counts(session, run.id, "ana", closed)["pending"] == 1
    assert len(statements) == 2


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_export_rows_are_the_listed_ones_by_id(session, run):
    session.query(Delivery).filter(Delivery.state == "sent").update(
        {"sent_at": datetime(2025, 1, 1, 8, 30), "smtp_code": 250}
    )
    session.commit()
    rows = list(run_listing.export_rows(session, run.id, "sent", ""))
    assert names(rows) == ["Tomás Ortega", "Amara Okafor"]
    assert [(r.smtp_code, r.sent_at, r.message_id) for r in rows][0] == (
        250,
        datetime(2025, 1, 1, 8, 30),
        "<m0@quiz.example>",
    )
    assert names(run_listing.export_rows(session, run.id, "", "ort")) == [
        "Tomás Ortega",
        "Ortwin 100%",
    ]
