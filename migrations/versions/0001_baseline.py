"""The schema as it stood before migrations: the quiz platform's tables where missing, our
indexes on them, and the reporting ledger.

An existing quiz platform database keeps its tables and rows; only what is missing is made.
A database made by the old `init-db` (every table already there) passes through unchanged.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# The run states that hold a month open, as they were written when this ran.
_ONE_OPEN_RUN = "scope = 'all' AND state IN ('queued', 'running', 'paused')"


def _table(name: str, *columns, **kw) -> None:
    op.create_table(name, *columns, if_not_exists=True, **kw)


def _index(name: str, table: str, columns: list[str], **kw) -> None:
    op.create_index(name, table, columns, if_not_exists=True, **kw)


def _quiz_platform() -> None:
    """The platform's tables (seed-compatible names), made only where they do not exist."""
    _table(
        "user",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("username", sa.String(120), nullable=False, unique=True),
        sa.Column("email", sa.String(254)),
        sa.Column("full_name", sa.String(200)),
        sa.Column("qualification", sa.String(200)),
        sa.Column("dob", sa.Date()),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("password_hash", sa.String(255)),
        # Made here only for a new database (development, demos): AUTOINCREMENT keeps SQLite
        # from giving a deleted account's id to the next one. A platform's own table is left
        # as it is; PostgreSQL's sequences never reuse an id anyway.
        sqlite_autoincrement=True,
    )
    _table(
        "subject",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text()),
    )
    _table(
        "chapter",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("subject_id", sa.Integer(), sa.ForeignKey("subject.id"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text()),
    )
    _table(
        "quiz",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("chapter_id", sa.Integer(), sa.ForeignKey("chapter.id"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("date_of_quiz", sa.Date()),
        sa.Column("time_duration", sa.String(20)),
    )
    _table(
        "question",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("quiz_id", sa.Integer(), sa.ForeignKey("quiz.id"), nullable=False),
        sa.Column("question_statement", sa.Text(), nullable=False),
        sa.Column("option1", sa.Text()),
        sa.Column("option2", sa.Text()),
        sa.Column("option3", sa.Text()),
        sa.Column("option4", sa.Text()),
        sa.Column("correct_option", sa.Integer()),
    )
    _table(
        "score",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("quiz_id", sa.Integer(), sa.ForeignKey("quiz.id"), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("user.id"), nullable=False),
        sa.Column("timestamp", sa.DateTime(), nullable=False),
        sa.Column("total_scored", sa.Integer(), nullable=False),
        sa.Column("total_questions", sa.Integer(), nullable=False),
    )


def _indexes_on_quiz_platform() -> None:
    """What the reports' queries need on the platform's tables; rows are not touched."""
    _index("ix_user_email", "user", ["email"])
    _index("ix_user_role", "user", ["role"])
    _index("ix_chapter_subject_id", "chapter", ["subject_id"])
    _index("ix_quiz_chapter_id", "quiz", ["chapter_id"])
    _index("ix_question_quiz_id", "question", ["quiz_id"])
    # A learner's month of attempts, and a month's attempts by quiz (ranks).
    _index("ix_score_user_time", "score", ["user_id", "timestamp"])
    _index("ix_score_time_quiz", "score", ["timestamp", "quiz_id"])
    if op.get_bind().dialect.name == "postgresql":
        # Learner search (ILIKE '%ana%') from trigram indexes; pg_trgm is a trusted extension
        # the database's owner may create.
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for column in ("full_name", "username", "email"):
            _index(
                f"ix_user_{column}_trgm",
                "user",
                [column],
                postgresql_using="gin",
                postgresql_ops={column: "gin_trgm_ops"},
            )


def _ledger() -> None:
    """The product's own tables."""
    _table(
        "report_run",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("task_id", sa.String(36), nullable=False, unique=True),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("scope", sa.String(10), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("user.id")),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("pause_reason", sa.Text()),
        sa.Column("error", sa.Text()),
        sa.Column("started_by_id", sa.Integer(), sa.ForeignKey("user.id")),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime()),
        sa.Column("finished_at", sa.DateTime()),
        *(
            sa.Column(count, sa.Integer(), nullable=False)
            for count in ("total", "sent", "failed", "skipped", "unknown", "cancelled")
        ),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
    )
    _index("ix_report_run_created", "report_run", ["created_at"])
    _index("ix_report_run_month", "report_run", ["month"])
    _index(
        "uq_report_run_open_month",
        "report_run",
        ["month"],
        unique=True,
        sqlite_where=sa.text(_ONE_OPEN_RUN),
        postgresql_where=sa.text(_ONE_OPEN_RUN),
    )
    _table(
        "delivery",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("user.id"), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("report_run.id"), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_until", sa.DateTime()),
        sa.Column("next_attempt_at", sa.DateTime()),
        sa.Column("message_id", sa.String(255), nullable=False, unique=True),
        sa.Column("smtp_code", sa.Integer()),
        sa.Column("last_error", sa.Text()),
        sa.Column("sent_at", sa.DateTime()),
        sa.Column("sent_count", sa.Integer(), nullable=False),
        sa.Column("message", sa.LargeBinary()),
        sa.Column("message_sha256", sa.String(64)),
        sa.Column("data_sent", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("user_id", "month", "kind", name="uq_delivery_user_month_kind"),
    )
    _index("ix_delivery_run_state", "delivery", ["run_id", "state"])
    _index("ix_delivery_state_lease", "delivery", ["state", "lease_until"])
    _table(
        "api_token",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("user.id"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("prefix", sa.String(12), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime()),
        sa.Column("expires_at", sa.DateTime()),
        sa.Column("revoked_at", sa.DateTime()),
    )
    _index("ix_api_token_user_id", "api_token", ["user_id"])
    _table(
        "quiz_standing",
        sa.Column("month", sa.String(7), primary_key=True),
        sa.Column("quiz_id", sa.Integer(), sa.ForeignKey("quiz.id"), primary_key=True),
        sa.Column("bests", sa.LargeBinary(), nullable=False),
        sa.Column("computed_at", sa.DateTime(), nullable=False),
    )
    _table(
        "smtp_slot",
        sa.Column("number", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("holder", sa.String(80)),
        sa.Column("lease_until", sa.DateTime()),
    )
    _table(
        "worker_heartbeat",
        sa.Column("id", sa.String(120), primary_key=True),
        sa.Column("host", sa.String(80), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("worker_type", sa.String(12), nullable=False),
        sa.Column("workers", sa.Integer(), nullable=False),
        sa.Column("periodic", sa.Boolean(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("beat_at", sa.DateTime(), nullable=False),
        sa.Column("tasks_done", sa.Integer(), nullable=False),
        sa.Column("current_run_id", sa.Integer()),
    )
    _index("ix_worker_heartbeat_beat_at", "worker_heartbeat", ["beat_at"])


def upgrade() -> None:
    _quiz_platform()
    _indexes_on_quiz_platform()
    _ledger()


def downgrade() -> None:
    # The ledger goes; the quiz platform's tables and rows stay (only our indexes are dropped).
    for table in ("worker_heartbeat", "smtp_slot", "quiz_standing", "api_token", "delivery"):
        op.drop_table(table)
    op.drop_table("report_run")
    for name, table in (
        ("ix_score_time_quiz", "score"),
        ("ix_score_user_time", "score"),
        ("ix_question_quiz_id", "question"),
        ("ix_quiz_chapter_id", "quiz"),
        ("ix_chapter_subject_id", "chapter"),
        ("ix_user_role", "user"),
        ("ix_user_email", "user"),
    ):
        op.drop_index(name, table_name=table, if_exists=True)
    if op.get_bind().dialect.name == "postgresql":
        for column in ("full_name", "username", "email"):
            op.drop_index(f"ix_user_{column}_trgm", table_name="user", if_exists=True)
