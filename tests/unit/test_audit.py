"""The audit trail: entries are written with the change, and never rewritten."""

import pytest
from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.exc import DatabaseError

from webapp.core.audit import Actor
from webapp.core.audit import AuditAction
from webapp.core.audit import record
from webapp.core.models import AuditEntry


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
