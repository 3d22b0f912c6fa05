"""Migrations bring any database to the current schema: an empty one, a quiz platform's own
database (its tables, no indexes of ours), one made by the old init-db, and one a revision
behind whose ledger has rows. The quiz platform's rows are never changed."""

import pytest
from sqlalchemy import inspect
from sqlalchemy import text

from webapp.core.models import Base
from webapp.infra import schema
from webapp.infra.database import make_engine

# These tests run the migrations themselves, from nothing or from a revision of their own.
pytestmark = pytest.mark.empty_database
both_backends = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)

# The quiz platform's schema as the platform itself creates it: its tables and keys only.
QUIZ_PLATFORM = [
    """CREATE TABLE "user" (id INTEGER PRIMARY KEY, username VARCHAR(120) NOT NULL UNIQUE,
        email VARCHAR(254), full_name VARCHAR(200), qualification VARCHAR(200), dob DATE,
        role VARCHAR(20) NOT NULL, password_hash VARCHAR(255))""",
    "CREATE TABLE subject (id INTEGER PRIMARY KEY, name VARCHAR(200) NOT NULL, description TEXT)",
    """CREATE TABLE chapter (id INTEGER PRIMARY KEY, subject_id INTEGER NOT NULL
        REFERENCES subject (id), name VARCHAR(200) NOT NULL, description TEXT)""",
    """CREATE TABLE quiz (id INTEGER PRIMARY KEY, chapter_id INTEGER NOT NULL
        REFERENCES chapter (id), name VARCHAR(200) NOT NULL, date_of_quiz DATE,
        time_duration VARCHAR(20))""",
    """CREATE TABLE question (id INTEGER PRIMARY KEY, quiz_id INTEGER NOT NULL
        REFERENCES quiz (id), question_statement TEXT NOT NULL, option1 TEXT, option2 TEXT,
        option3 TEXT, option4 TEXT, correct_option INTEGER)""",
    """CREATE TABLE score (id INTEGER PRIMARY KEY, quiz_id INTEGER NOT NULL REFERENCES quiz (id),
        user_id INTEGER NOT NULL REFERENCES "user" (id), timestamp TIMESTAMP NOT NULL,
        total_scored INTEGER NOT NULL, total_questions INTEGER NOT NULL)""",
]
PLATFORM_ROWS = [
    """INSERT INTO "user" (id, username, email, full_name, role)
        VALUES (1, 'ana', 'ana@quiz.example', 'Ana Lima', 'user')""",
    "INSERT INTO subject (id, name) VALUES (1, 'Physics')",
    "INSERT INTO chapter (id, subject_id, name) VALUES (1, 1, 'Optics')",
    "INSERT INTO quiz (id, chapter_id, name) VALUES (1, 1, 'Lenses')",
    """INSERT INTO score (id, quiz_id, user_id, timestamp, total_scored, total_questions)
        VALUES (1, 1, 1, '2026-10-03 09:00:00', 7, 10)""",
]


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def _run(engine, *statements: str) -> None:
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))


def _platform_rows(engine) -> list[tuple]:
    with engine.connect() as connection:
        return [
            tuple(connection.execute(text(f"SELECT * FROM {table} ORDER BY id")).all())
            for table in ('"user"', "subject", "chapter", "quiz", "question", "score")
        ]


def _indexes(engine, table: str) -> set[str]:
    return {index["name"] for index in inspect(engine).get_indexes(table)}


@both_backends
def test_upgrade_from_an_empty_database_gives_exactly_the_models_schema(engine):
    schema.upgrade(engine)
    assert schema.current(engine) == schema.head()
    assert schema.differences(engine, Base.metadata) == []


@both_backends
def test_upgrade_of_a_quiz_platform_database_adds_our_tables_and_indexes_and_keeps_its_rows(
    engine,
):
    _run(engine, *QUIZ_PLATFORM, *PLATFORM_ROWS)
    before = _platform_rows(engine)
    assert "ix_score_user_time" not in _indexes(engine, "score")

    schema.upgrade(engine)

    assert _platform_rows(engine) == before
    assert {"ix_score_user_time", "ix_score_time_quiz"} <= _indexes(engine, "score")
    assert {"ix_user_email", "ix_user_role"} <= _indexes(engine, "user")
    if engine.dialect.name == "postgresql":
        assert "ix_user_full_name_trgm" in _indexes(engine, "user")
    assert {"report_run", "delivery", "worker_heartbeat"} <= set(inspect(engine).get_table_names())
    assert schema.current(engine) == schema.head()


@both_backends
def test_adding_the_claim_holder_to_the_ledger_keeps_its_rows(engine):
    schema.upgrade(engine, "0001")
    assert "claimed_by" not in {c["name"] for c in inspect(engine).get_columns("delivery")}
    _run(
        engine,
        *PLATFORM_ROWS,
        """INSERT INTO report_run (id, task_id, month, scope, state, created_at, total, sent,
            failed, skipped, unknown, cancelled, consecutive_failures)
            VALUES (1, 'task-1', '2026-10', 'all', 'succeeded', '2026-11-01 00:00:00',
            1, 1, 0, 0, 0, 0, 0)""",
        """INSERT INTO delivery (id, user_id, month, kind, run_id, state, attempts, message_id,
            sent_count, data_sent, created_at, updated_at, message_sha256)
            VALUES (1, 1, '2026-10', 'monthly', 1, 'sent', 1, '<m1@quiz.example>', 1, true,
            '2026-11-01 00:00:00', '2026-11-01 00:00:01', 'abc')""",
    )

    schema.upgrade(engine)

    with engine.connect() as connection:
        row = connection.execute(
            text("SELECT state, message_id, message_sha256, claimed_by FROM delivery")
        ).one()
    assert tuple(row) == ("sent", "<m1@quiz.example>", "abc", None)
    assert schema.differences(engine, Base.metadata) == []


@both_backends
def test_the_run_letter_columns_come_empty_on_the_runs_already_there(engine):
    schema.upgrade(engine, "0003")
    _run(
        engine,
        """INSERT INTO report_run (id, task_id, month, scope, state, created_at, total, sent,
            failed, skipped, unknown, cancelled, consecutive_failures)
            VALUES (1, 'task-1', '2026-10', 'all', 'done', '2026-11-01 00:00:00',
            1, 1, 0, 0, 0, 0, 0)""",
    )

    schema.upgrade(engine)

    with engine.connect() as connection:
        row = connection.execute(text("SELECT task_id, subject, intro FROM report_run")).one()
    # An old run keeps the default subject and no intro, as it was mailed.
    assert tuple(row) == ("task-1", None, None)
    assert schema.differences(engine, Base.metadata) == []

    schema.downgrade(engine, "0003")
    assert not {"subject", "intro"} & {c["name"] for c in inspect(engine).get_columns("report_run")}


@both_backends
def test_a_database_made_by_the_old_init_db_is_brought_up_to_date(engine):
    # Every table of the first release there, and no record of any migration.
    schema.upgrade(engine, "0001")
    _run(engine, "DROP TABLE alembic_version")
    assert schema.current(engine) is None

    schema.upgrade(engine)

    assert schema.current(engine) == schema.head()
    assert schema.differences(engine, Base.metadata) == []


def test_going_back_to_nothing_drops_the_ledger_but_keeps_the_quiz_platforms_rows(engine):
    _run(engine, *QUIZ_PLATFORM, *PLATFORM_ROWS)
    before = _platform_rows(engine)
    schema.upgrade(engine)

    schema.downgrade(engine, "base")

    assert _platform_rows(engine) == before
    assert "delivery" not in inspect(engine).get_table_names()
    assert "ix_score_user_time" not in _indexes(engine, "score")
