"""Tables: the quiz platform's own (seed-compatible names) and the reporting ledger."""

from datetime import date
from datetime import datetime

from sqlalchemy import Boolean
from sqlalchemy import Date
from sqlalchemy import DateTime
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import LargeBinary
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint
from sqlalchemy import text
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from werkzeug.security import check_password_hash
from werkzeug.security import generate_password_hash

from webapp.core.clock import utcnow
from webapp.core.states import RUN_OPEN
from webapp.core.states import STAFF_ROLES
from webapp.core.states import DeliveryKind
from webapp.core.states import DeliveryState
from webapp.core.states import Role
from webapp.core.states import RunScope
from webapp.core.states import RunState
from webapp.core.states import SuppressionReason


class Base(DeclarativeBase):
    """Declarative base of every table of the product."""


# The schema is made and changed by the migrations (migrations/, webapp/infra/schema.py); a
# test checks that they and these models agree.


# OWASP's floor for scrypt; werkzeug's default work factor is below it.
PASSWORD_METHOD = "scrypt:131072:8:1"


def _trigram_index(column: str) -> Index:
    # PostgreSQL answers a learner search (ILIKE '%ana%') from these instead of reading every
    # learner: 160 ms at 100,000 learners without them. SQLite has no such index.
    return Index(
        f"ix_user_{column}_trgm",
        column,
        postgresql_using="gin",
        postgresql_ops={column: "gin_trgm_ops"},
    ).ddl_if(dialect="postgresql")


class User(Base):
    """A learner (role "user") of the platform, or a staff account (viewer, operator, admin).

    The quiz platform's table: the product adds no column to it; what it keeps about staff
    accounts is in StaffAccount."""

    __tablename__ = "user"
    __table_args__ = (
        *(_trigram_index(c) for c in ("full_name", "username", "email")),
        # As the baseline migration makes the table where it is missing: ids never reused.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(120), unique=True)
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    full_name: Mapped[str | None] = mapped_column(String(200))
    qualification: Mapped[str | None] = mapped_column(String(200))
    dob: Mapped[date | None] = mapped_column(Date)
    role: Mapped[str] = mapped_column(String(20), default=Role.LEARNER, index=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))

    def set_password(self, password: str) -> None:
        """Store a strong hash of the password."""
        self.password_hash = generate_password_hash(password, method=PASSWORD_METHOD)

    def check_password(self, password: str) -> bool:
        """True when the password matches the stored hash."""
        return bool(self.password_hash) and check_password_hash(self.password_hash, password)

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def staff_role(self) -> Role | None:
        """The account's staff role; None for a learner or a role the product does not know."""
        role = Role.of(self.role)
        return role if role in STAFF_ROLES else None

    @property
    def display_name(self) -> str:
        return self.full_name or self.username


class Subject(Base):
    __tablename__ = "subject"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)


class Chapter(Base):
    __tablename__ = "chapter"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subject.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)


class Quiz(Base):
    __tablename__ = "quiz"

    id: Mapped[int] = mapped_column(primary_key=True)
    chapter_id: Mapped[int] = mapped_column(ForeignKey("chapter.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    date_of_quiz: Mapped[date | None] = mapped_column(Date)
    time_duration: Mapped[str | None] = mapped_column(String(20))


class Question(Base):
    __tablename__ = "question"

    id: Mapped[int] = mapped_column(primary_key=True)
    quiz_id: Mapped[int] = mapped_column(ForeignKey("quiz.id"), index=True)
    question_statement: Mapped[str] = mapped_column(Text, default="")
    option1: Mapped[str | None] = mapped_column(Text)
    option2: Mapped[str | None] = mapped_column(Text)
    option3: Mapped[str | None] = mapped_column(Text)
    option4: Mapped[str | None] = mapped_column(Text)
    correct_option: Mapped[int | None] = mapped_column(Integer)


class Score(Base):
    """One quiz attempt; timestamp is naive UTC, as the platform writes it."""

    __tablename__ = "score"
    __table_args__ = (
        # The chunk query filters by learner and month; the run-wide rank query by month.
        Index("ix_score_user_time", "user_id", "timestamp"),
        Index("ix_score_time_quiz", "timestamp", "quiz_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    quiz_id: Mapped[int] = mapped_column(ForeignKey("quiz.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    timestamp: Mapped[datetime] = mapped_column(DateTime)
    total_scored: Mapped[int] = mapped_column(Integer)
    total_questions: Mapped[int] = mapped_column(Integer)


# The partial unique index below names the open states in SQL.
_OPEN_IN_SQL = ", ".join(f"'{state}'" for state in RUN_OPEN)
_ONE_OPEN_RUN = f"scope = '{RunScope.ALL}' AND state IN ({_OPEN_IN_SQL})"


class ReportRun(Base):
    """One start of the monthly report for a month, for all learners or one."""

    __tablename__ = "report_run"
    __table_args__ = (
        # At most one open all-learner run per month, enforced by the database so
        # that two admins starting the same month at once create one run.
        Index(
            "uq_report_run_open_month",
            "month",
            unique=True,
            sqlite_where=text(_ONE_OPEN_RUN),
            postgresql_where=text(_ONE_OPEN_RUN),
        ),
        Index("ix_report_run_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[str] = mapped_column(String(36), unique=True)
    month: Mapped[str] = mapped_column(String(7), index=True)
    scope: Mapped[str] = mapped_column(String(10), default=RunScope.ALL)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    state: Mapped[str] = mapped_column(String(12), default=RunState.QUEUED)
    pause_reason: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    started_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    # Counts frozen when the run closes; while it runs they come from the ledger.
    total: Mapped[int] = mapped_column(Integer, default=0)
    sent: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    unknown: Mapped[int] = mapped_column(Integer, default=0)
    cancelled: Mapped[int] = mapped_column(Integer, default=0)
    # Failures in a row across all workers; the circuit breaker pauses the run at a threshold.
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    # What an admin chose to say in this run's emails (core/letters.py checks it); unset,
    # the default subject and no intro. Kept on the run so its page shows what was mailed.
    subject: Mapped[str | None] = mapped_column(String(150))
    intro: Mapped[str | None] = mapped_column(String(2000))

    @property
    def is_open(self) -> bool:
        return self.state in RUN_OPEN


class Delivery(Base):
    """The ledger row of one learner's report for one month: the truth about sending."""

    __tablename__ = "delivery"
    __table_args__ = (
        UniqueConstraint("user_id", "month", "kind", name="uq_delivery_user_month_kind"),
        Index("ix_delivery_run_state", "run_id", "state"),
        Index("ix_delivery_state_lease", "state", "lease_until"),
        # The rows that still hold their mailed copy, oldest first: what retention removes
        # (webapp/core/retention.py), found without reading the rest of the ledger.
        Index(
            "ix_delivery_copy_sent",
            "sent_at",
            sqlite_where=text("message IS NOT NULL"),
            postgresql_where=text("message IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    month: Mapped[str] = mapped_column(String(7))
    kind: Mapped[str] = mapped_column(String(20), default=DeliveryKind.MONTHLY)
    run_id: Mapped[int] = mapped_column(ForeignKey("report_run.id"))
    state: Mapped[str] = mapped_column(String(12), default=DeliveryState.PENDING)
    reason: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)
    # The consumer (its heartbeat's key) that claimed it last: when that consumer stops
    # beating, its claims come back without waiting for the lease (webapp/core/reaper.py).
    claimed_by: Mapped[str | None] = mapped_column(String(120))
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime)
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    smtp_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    sent_count: Mapped[int] = mapped_column(Integer, default=0)
    # The exact bytes handed to SMTP (zlib), so the preview of a sent report is what was mailed.
    message: Mapped[bytes | None] = mapped_column(LargeBinary)
    message_sha256: Mapped[str | None] = mapped_column(String(64))
    data_sent: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class ApiToken(Base):
    """A Bearer token of an admin; only its SHA-256 is stored."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    prefix: Mapped[str] = mapped_column(String(12))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)


class QuizStanding(Base):
    """Every learner's best percent on one quiz in one month, sorted: what ranks are read from.

    Worked out once for a month (see webapp/core/report/standings.py) and shared by every
    worker process and the preview, instead of a GROUP BY over the month's attempts in each.
    """

    __tablename__ = "quiz_standing"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    quiz_id: Mapped[int] = mapped_column(ForeignKey("quiz.id"), primary_key=True)
    # Little-endian IEEE doubles, ascending, one per learner who attempted the quiz.
    bests: Mapped[bytes] = mapped_column(LargeBinary)
    computed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class SmtpSlot(Base):
    """One SMTP connection's right to be open, under SMTP_MAX_CONNECTIONS_TOTAL (see
    webapp/core/mail/slots.py): free, or held by one process until its lease runs out."""

    __tablename__ = "smtp_slot"

    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    holder: Mapped[str | None] = mapped_column(String(80))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)


class WorkerBeat(Base):
    """The last sign of life of one consumer process (see webapp/core/workers.py)."""

    __tablename__ = "worker_heartbeat"

    id: Mapped[str] = mapped_column(String(120), primary_key=True)  # host:pid:start
    host: Mapped[str] = mapped_column(String(80))
    pid: Mapped[int] = mapped_column(Integer)
    worker_type: Mapped[str] = mapped_column(String(12))
    workers: Mapped[int] = mapped_column(Integer)
    periodic: Mapped[bool] = mapped_column(Boolean)
    started_at: Mapped[datetime] = mapped_column(DateTime)
    beat_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    tasks_done: Mapped[int] = mapped_column(Integer, default=0)
    current_run_id: Mapped[int | None] = mapped_column(Integer)


class AuditEntry(Base):
    """One thing a person (or a token, or the product itself) did, as it happened: append-only
    (see webapp/core/audit.py; triggers of migration 0005 refuse updates and deletes)."""

    __tablename__ = "audit_entry"
    __table_args__ = (
        # The Audit page's filter by action, newest first, reads this instead of walking
        # back through every sign-in to find the few role changes.
        Index("ix_audit_entry_action_at", "action", "at"),
        # AUTOINCREMENT on SQLite too: an entry's number is never given twice.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    # No foreign key: the trail outlives the accounts it names, so it also keeps their label.
    actor_id: Mapped[int | None] = mapped_column(Integer, index=True)
    actor: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(40), index=True)
    target: Mapped[str] = mapped_column(String(254), default="")
    source: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[str] = mapped_column(String(1000), default="")


class AccountSession(Base):
    """One signed-in browser of a staff account (see webapp/core/sessions.py): the session
    cookie holds a random token whose SHA-256 is kept here, so a session ends for good when
    its row goes (sign-out, sign out everywhere, a password change, demotion)."""

    __tablename__ = "account_session"
    # AUTOINCREMENT on SQLite too: a session's number is never given twice.
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # No foreign key: the quiz platform may delete an account without asking us, and the
    # fingerprint below already keeps a reused id from taking over the old account's rows.
    user_id: Mapped[int] = mapped_column(Integer, index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    # SHA-256 of the account's id, username and password hash when the session began: a
    # password changed anywhere (even by the platform) or another account given the same id
    # no longer matches, and the session is over.
    account_fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)


class StaffAccount(Base):
    """What the product keeps about a staff account beyond the quiz platform's user row: whether
    it is disabled. A staff account without a row here is active (the admins made before it)."""

    __tablename__ = "staff_account"

    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), primary_key=True)
    added_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # Set while the account may neither sign in nor use its API tokens.
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime)


class Suppression(Base):
    """A learner no report is mailed to, why, since when and on whose word (see
    webapp/core/suppression.py). Lifting an entry removes it; the audit trail keeps both."""

    __tablename__ = "suppression"
    __table_args__ = (
        # One entry a learner: a run joins it to every learner (launch.plan) by this index.
        Index("uq_suppression_user", "user_id", unique=True),
        Index("ix_suppression_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    # The address the learner had when the entry was made (the one that bounced, say).
    email: Mapped[str] = mapped_column(String(254), default="")
    reason: Mapped[str] = mapped_column(String(20), default=SuppressionReason.ADMIN)
    detail: Mapped[str] = mapped_column(String(1000), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # Who added it, as the audit trail names them, and the admin's account id if it was one.
    added_by: Mapped[str] = mapped_column(String(254), default="")
    added_by_id: Mapped[int | None] = mapped_column(Integer)
