"""Retention of mailed copies: old copies go in bounded batches, the rows and hashes stay."""

import logging
import zlib
from datetime import datetime
from datetime import timedelta
from itertools import count

import pytest
from sqlalchemy import event
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy import update

import tasks
from webapp.core.clock import utcnow
from webapp.core.context import Context
from webapp.core.models import Delivery
from webapp.core.models import ReportRun
from webapp.core.models import User
from webapp.core.retention import cutoff
from webapp.core.retention import purge_due
from webapp.core.retention import purge_mailed_copies
from webapp.infra.settings import Settings
from webapp.web.services import get_session

both_databases = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)

NOW = datetime(2026, 6, 1, 12, 0)
BEFORE = cutoff(NOW, 400)
OLD = NOW - timedelta(days=401)
YOUNG = NOW - timedelta(days=399)
COPY = zlib.compress(b"the bytes that were mailed")
HASH = "ab" * 32

_batch = count(1)


def sent(when: datetime, **columns) -> dict:
    """A delivery sent at `when` with its copy and the copy's hash, created just before."""
    return {
        "state": "sent",
        "sent_at": when,
        "sent_count": 1,
        "created_at": when - timedelta(minutes=5),
        "message": COPY,
        "message_sha256": HASH,
        **columns,
    }


def unsent(created: datetime, state: str = "pending") -> dict:
    """A delivery never sent: no copy, no hash."""
    return {"state": state, "created_at": created}


def add(session, *rows: dict) -> list[int]:
    """The rows, each a learner's, as one closed run's deliveries; their ids in this order."""
    tag = next(_batch)
    names = [f"keep{tag}-{i:05d}" for i in range(len(rows))]
    session.execute(insert(User), [{"username": n, "role": "user"} for n in names])
    users = session.scalars(select(User.id).where(User.username.in_(names)).order_by(User.username))
    run = ReportRun(task_id=f"{tag:08d}-0000-0000-0000-000000000000", month="2025-04")
    run.state = "done"
    session.add(run)
    session.flush()
    message_ids = [f"<keep{tag}.{i:05d}@quiz.example>" for i in range(len(rows))]
    defaults = {"month": "2025-04", "run_id": run.id, "updated_at": OLD}
    session.execute(
        insert(Delivery),
        [
            {**defaults, **row, "user_id": uid, "message_id": mid}
            for row, uid, mid in zip(rows, users, message_ids, strict=True)
        ],
    )
    session.commit()
    by_message_id = dict(
        session.execute(
            select(Delivery.message_id, Delivery.id).where(Delivery.message_id.in_(message_ids))
        ).all()
    )
    ids = [by_message_id[mid] for mid in message_ids]
    return ids


def columns(session, did: int) -> dict:
    """The delivery's columns as the database has them now."""
    d = session.get(Delivery, did, populate_existing=True)
    return {c.key: getattr(d, c.key) for c in Delivery.__table__.columns}


def copies_kept(session) -> list[int]:
    return list(
        session.scalars(
            select(Delivery.id).where(Delivery.message.is_not(None)).order_by(Delivery.id)
        )
    )


def copies_removed(session) -> list[int]:
    """Sent reports whose copy retention removed, as the ledger tells them apart."""
    return list(
        session.scalars(
            select(Delivery.id)
            .where(Delivery.message.is_(None), Delivery.message_sha256.is_not(None))
            .order_by(Delivery.id)
        )
    )


# --- The purge ------------------------------------------------------------------------------


@both_databases
def test_old_copies_go_and_the_rows_their_message_ids_and_hashes_stay(session):
    ids = add(
        session,
        sent(OLD),
        sent(YOUNG),
        sent(BEFORE),  # exactly at the cutoff: not older than it
        unsent(OLD),
        unsent(OLD, state="failed"),
        # A resend that failed keeps the old copy; it is as old as its sent_at says.
        sent(OLD, state="failed"),
        # A copy without a hash would leave a row that looks never sent: it is kept.
        sent(OLD, message_sha256=None),
    )
    before = {did: columns(session, did) for did in ids}

    done = purge_mailed_copies(session, BEFORE)

    assert (done.purged, done.done) == (2, True)
    assert copies_removed(session) == [ids[0], ids[5]]
    for did in (ids[0], ids[5]):
        now = columns(session, did)
        assert now["message"] is None
        # id, Message-ID, hash, state, times (updated_at too: no run progressed) all kept.
        assert {**now, "message": COPY} == before[did]
    for did in (ids[1], ids[2], ids[3], ids[4], ids[6]):
        assert columns(session, did) == before[did]


@both_databases
def test_the_oldest_go_first_in_batches_and_a_call_stops_at_its_limit(session):
    ids = add(session, *[sent(OLD - timedelta(days=7 - i)) for i in range(7)])

    first = purge_mailed_copies(session, BEFORE, batch_size=3, max_batches=2)

    assert (first.purged, first.batches, first.done) == (6, 2, False)
    assert copies_kept(session) == [ids[6]]  # the youngest of them
    rest = purge_mailed_copies(session, BEFORE, batch_size=3)
    assert (rest.purged, rest.batches, rest.done) == (1, 1, True)
    assert copies_kept(session) == []


@both_databases
def test_batches_of_500_rows_each_commit_on_their_own(session):
    ids = add(session, *[sent(OLD) for _ in range(1100)])
    commits = []
    event.listen(session, "after_commit", commits.append)
    done = purge_mailed_copies(session, BEFORE)
    assert (done.purged, done.batches, done.done) == (1100, 3, True)
    # One commit a batch: nothing is left open.
    assert len(commits) == 3 and not session.in_transaction()
    assert copies_removed(session) == ids


@both_databases
def test_purging_again_changes_nothing(session):
    ids = add(session, sent(OLD), sent(YOUNG), unsent(OLD))
    assert purge_mailed_copies(session, BEFORE).purged == 1
    after_first = {did: columns(session, did) for did in ids}
    again = purge_mailed_copies(session, BEFORE)
    assert (again.purged, again.batches, again.done) == (0, 0, True)
    assert {did: columns(session, did) for did in ids} == after_first


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # SQLite's own EXPLAIN
def test_old_copies_are_found_through_the_index_not_by_reading_the_ledger(session):
    plan = session.execute(
        text(
            "EXPLAIN QUERY PLAN SELECT id FROM delivery WHERE sent_at < :before"
            " AND message IS NOT NULL AND message_sha256 IS NOT NULL ORDER BY sent_at LIMIT 500"
        ),
        {"before": BEFORE},
    ).all()
    assert any("USING INDEX ix_delivery_copy_sent" in row[-1] for row in plan), plan


@both_databases
def test_the_periodic_call_takes_the_setting_and_finds_a_copy_sent_again_once_it_is_old(
    app, session
):
    ctx = Context(session=session, settings=Settings(), store=None)  # 400 days
    ids = add(session, *[sent(OLD) for _ in range(3)], sent(YOUNG))

    assert purge_due(ctx, NOW).purged == 3
    assert copies_kept(session) == [ids[3]]

    # The first report is sent again; 401 days later its new copy goes too.
    resent = NOW - timedelta(days=10)
    session.execute(
        update(Delivery)
        .where(Delivery.id == ids[0])
        .values(message=COPY, message_sha256="cd" * 32, sent_at=resent)
    )
    session.commit()
    assert purge_due(ctx, NOW).purged == 0
    assert purge_due(ctx, resent + timedelta(days=401)).purged == 2
    assert copies_kept(session) == []
    assert columns(session, ids[0])["message_sha256"] == "cd" * 32


# --- The hourly task ------------------------------------------------------------------------


def test_the_purge_is_an_hourly_periodic_task():
    def due_at(minute: int) -> set[str]:
        return {task.name for task in tasks.huey.read_periodic(datetime(2026, 6, 1, 5, minute))}

    assert "purge_mailed_copies" in due_at(23)
    assert "purge_mailed_copies" not in due_at(24)


def test_the_task_removes_old_copies_and_logs_how_many(mail_app, monkeypatch, caplog):
    # Twice in one minute: past the guard that lets one consumer a minute run it.
    monkeypatch.setattr(tasks, "first_in_slot", lambda name: True)
    with mail_app.app_context():
        now = utcnow()
        ids = add(get_session(), sent(now - timedelta(days=401)), sent(now - timedelta(days=1)))

    with caplog.at_level(logging.INFO, logger="quiz_reports.tasks"):
        assert tasks.purge_mailed_copies.call_local() == 1
        assert tasks.purge_mailed_copies.call_local() == 0
    said = [r.getMessage() for r in caplog.records if r.name == "quiz_reports.tasks"]
    assert said == [
        "retention: mailed copies older than 400 days removed: 1",
        "retention: mailed copies older than 400 days removed: 0",
    ]
    with mail_app.app_context():
        assert copies_removed(get_session()) == [ids[0]]


def test_the_task_runs_on_one_consumer_a_minute(mail_app, monkeypatch):
    monkeypatch.setattr(tasks, "first_in_slot", lambda name: name != "purge_mailed_copies")
    with mail_app.app_context():
        add(get_session(), sent(utcnow() - timedelta(days=401)))
    assert tasks.purge_mailed_copies.call_local() is None  # another consumer has this minute
    with mail_app.app_context():
        assert copies_removed(get_session()) == []
