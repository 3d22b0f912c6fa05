"""The audit trail: entries are written with the change, and never rewritten; each action of
core records who did it; the Audit page's read model filters and pages them."""

from datetime import datetime

import pytest
from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.exc import DatabaseError

from tests.helpers.factories import make_admin
from tests.helpers.factories import make_user
from webapp.core import actions
from webapp.core import audit_log
from webapp.core import launch
from webapp.core import tokens
from webapp.core.audit import Actor
from webapp.core.audit import AuditAction
from webapp.core.audit import record
from webapp.core.lifecycle import deliveries
from webapp.core.lifecycle import runs
from webapp.core.models import AuditEntry
from webapp.core.models import Delivery
from webapp.core.months import Month
from webapp.core.states import DeliveryState

DECEMBER = Month(2024, 12)
FROM = "Quiz Reports <reports@quiz.example>"


def test_an_entry_keeps_who_what_target_and_source(session):
    actor = Actor("ada@example.test", id=3, source="203.0.113.9")
    record(session, actor, AuditAction.RUN_STARTED, "run 7 (2024-12)", "200 learners")
    session.commit()
    entry = session.scalars(select(AuditEntry)).one()
    assert (entry.actor_id, entry.actor, entry.action) == (3, "ada@example.test", "run_started")
    assert (entry.target, entry.source, entry.detail) == (
        "run 7 (2024-12)",
        "203.0.113.9",
        "200 learners",
    )
    assert entry.at is not None


def test_an_unknown_action_is_refused(session):
    with pytest.raises(ValueError):
        record(session, Actor("x"), "drop_tables")


@pytest.mark.parametrize(
    "change",
    [
        update(AuditEntry).values(actor="someone else"),
        delete(AuditEntry),
    ],
    ids=["update", "delete"],
)
def test_the_database_refuses_to_rewrite_the_trail(session, change):
    record(session, Actor("ada@example.test", id=3), AuditAction.SIGN_IN)
    session.commit()
    with pytest.raises(DatabaseError, match="append-only"):
        session.execute(change)
        session.flush()
    session.rollback()
    assert session.scalars(select(AuditEntry.actor)).all() == ["ada@example.test"]


# --- What core records, in the change's transaction -------------------------------------------


def _trail(session) -> list[tuple[str, str, str, str]]:
    rows = session.execute(
        select(AuditEntry.actor, AuditEntry.action, AuditEntry.target, AuditEntry.detail).order_by(
            AuditEntry.id
        )
    )
    return [tuple(row) for row in rows]


OPERATOR = Actor("otto@example.test", id=None, source="192.0.2.1")


def test_starts_pauses_resumes_retries_and_cancels_are_recorded_with_who_did_them(session):
    learners = [make_user(session) for _ in range(2)]
    session.commit()
    run = launch.start_all(session, DECEMBER, actor=OPERATOR, mail_from=FROM)
    assert run.started_by_id is None  # the actor has no account here
    actions.pause(session, run, OPERATOR)
    actions.resume(session, run, OPERATOR)
    first = session.scalars(select(Delivery.id).where(Delivery.run_id == run.id)).first()
    assert deliveries.claim(session, first, run.id, 60)
    deliveries.record_outcome(session, first, DeliveryState.FAILED, last_error="550")
    actions.retry_failed(session, run, OPERATOR)
    actions.cancel(session, run, OPERATOR)
    assert _trail(session) == [
        (OPERATOR.label, "run_started", f"run #{run.id}", "December 2024, all learners: 2 to mail"),
        (OPERATOR.label, "run_paused", f"run #{run.id}", ""),
        (OPERATOR.label, "run_resumed", f"run #{run.id}", ""),
        (OPERATOR.label, "run_retried", f"run #{run.id}", "1 failed report given another try"),
        (OPERATOR.label, "run_cancelled", f"run #{run.id}", "2 reports not sent"),
    ]
    assert len(learners) == 2


def test_an_action_that_does_not_apply_records_nothing(session):
    make_user(session)
    session.commit()
    run = launch.start_all(session, DECEMBER, mail_from=FROM)  # by the product itself
    before = _trail(session)
    assert before == [("system", "run_started", f"run #{run.id}", before[0][3])]
    with pytest.raises(actions.RunStateError):
        actions.resume(session, run, OPERATOR)  # it is not paused
    assert actions.retry_failed(session, run, OPERATOR) == 0  # nothing failed
    actions.cancel(session, run, OPERATOR)
    with pytest.raises(actions.RunStateError):
        actions.pause(session, run, OPERATOR)
    assert [a for _w, a, _t, _d in _trail(session)] == ["run_started", "run_cancelled"]


def test_a_workers_pause_is_not_put_in_the_trail(session):
    make_user(session)
    session.commit()
    run = launch.start_all(session, DECEMBER, mail_from=FROM)
    runs.pause(session, run.id, "the relay refused the login")
    assert [a for _w, a, _t, _d in _trail(session)] == ["run_started"]


def test_one_learners_report_is_a_start_the_first_time_and_a_resend_once_mailed(session):
    learner = make_user(session, full_name="Priya Raman", email="priya@example.test")
    session.commit()
    first = launch.start_one(session, DECEMBER, learner.id, actor=OPERATOR, mail_from=FROM)
    delivery = session.scalars(select(Delivery).where(Delivery.user_id == learner.id)).one()
    runs.begin(session, first.id)
    assert deliveries.claim(session, delivery.id, first.id, 60)
    deliveries.mark_sent(session, delivery.id, first.id, 250, b"x", "0" * 64)
    assert runs.close_if_complete(session, first.id)
    session.expire_all()  # as a new request would see it
    again = launch.start_one(session, DECEMBER, learner.id, actor=OPERATOR, mail_from=FROM)
    learner_words = "Priya Raman <priya@example.test>"
    assert [(a, t, d) for _w, a, t, d in _trail(session)] == [
        ("run_started", f"run #{first.id}", f"December 2024, one learner: {learner_words}"),
        ("report_resent", learner_words, f"December 2024, as run #{again.id}"),
    ]


def test_a_refused_start_records_nothing(session):
    learner = make_user(session)
    session.commit()
    launch.start_one(session, DECEMBER, learner.id, actor=OPERATOR, mail_from=FROM)
    with pytest.raises(launch.RunConflict):  # the first is still going
        launch.start_one(session, DECEMBER, learner.id, actor=OPERATOR, mail_from=FROM)
    assert len(_trail(session)) == 1


def test_token_creation_and_revocation_are_recorded(session):
    admin = make_admin(session)
    session.commit()
    row, _plain = tokens.create_token(session, admin, "nightly", OPERATOR)
    assert tokens.revoke(session, row.id, OPERATOR) is True
    assert tokens.revoke(session, row.id, OPERATOR) is False  # already: nothing recorded
    target = f"token {row.prefix}… “nightly” of admin@example.test"
    assert _trail(session) == [
        (OPERATOR.label, "token_created", target, ""),
        (OPERATOR.label, "token_revoked", target, ""),
    ]


# --- The Audit page's read model --------------------------------------------------------------


def _entries_at(session, *entries) -> None:
    """Entries (actor, action, target, at) written as if at those times."""
    for label, action, target, at in entries:
        record(session, Actor(label), action, target).at = at
    session.commit()


def _found(session, page=1, per_page=50, **filters) -> list[str]:
    found = audit_log.entries(session, audit_log.AuditFilter(**filters), page, per_page)
    return [e.target for e in found.rows]


def test_the_trail_reads_newest_first_and_filters_by_action_actor_target_and_time(session):
    _entries_at(
        session,
        ("ada@example.test", AuditAction.RUN_STARTED, "run #1", datetime(2024, 12, 1, 8)),
        ("otto@example.test", AuditAction.RUN_PAUSED, "run #1", datetime(2024, 12, 1, 9)),
        ("ada@example.test", AuditAction.ROLE_CHANGED, "otto@example.test", datetime(2024, 12, 2)),
        ("system", AuditAction.RUN_STARTED, "run #12", datetime(2024, 12, 3)),
        ("ada@example.test", AuditAction.TOKEN_CREATED, "token 100%_off", datetime(2024, 12, 4)),
    )
    everything = _found(session)
    assert everything == ["token 100%_off", "run #12", "otto@example.test", "run #1", "run #1"]
    assert _found(session, action=AuditAction.RUN_STARTED) == ["run #12", "run #1"]
    assert _found(session, actor="ADA@") == ["token 100%_off", "otto@example.test", "run #1"]
    assert _found(session, target="run #1") == ["run #12", "run #1", "run #1"]
    assert _found(session, target="otto") == ["otto@example.test"]
    # % and _ are letters to look for, not wildcards.
    assert _found(session, target="0%_") == ["token 100%_off"]
    assert _found(session, target="1%") == []
    window = {"since": datetime(2024, 12, 1, 9), "until": datetime(2024, 12, 3)}
    assert _found(session, **window) == ["otto@example.test", "run #1"]
    assert _found(session, action=AuditAction.RUN_STARTED, actor="system") == ["run #12"]


def test_the_trail_is_read_a_page_at_a_time(session):
    _entries_at(
        session,
        *[("ada", AuditAction.SIGN_IN, f"#{n}", datetime(2024, 12, 1, n)) for n in range(5)],
    )
    assert _found(session, page=1, per_page=2) == ["#4", "#3"]
    assert _found(session, page=3, per_page=2) == ["#0"]
    assert _found(session, page=9, per_page=2) == ["#0"]  # past the end: the last page
