"""The reporting ledger: runs, one delivery a learner a month, and what a moved delivery
left behind in the runs it left."""

from datetime import datetime

from sqlalchemy import Boolean
from sqlalchemy import DateTime
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import LargeBinary
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint
from sqlalchemy import text
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from webapp.core.clock import utcnow
from webapp.core.states import RUN_OPEN
from webapp.core.states import DeliveryKind
from webapp.core.states import DeliveryState
from webapp.core.states import RunScope
from webapp.core.states import RunState
from webapp.core.tables.base import Base

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
        # A run's deliveries by state, and its sends over time (its page's chart) from the
        # index alone.
        Index("ix_delivery_run_state_sent", "run_id", "state", "sent_at"),
        Index("ix_delivery_state_lease", "state", "lease_until"),
        # Each month's reports by state, counted from the index alone (month_standing.py).
        Index("ix_delivery_kind_month_state", "kind", "month", "state"),
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


class SendRecord(Base):
    """How one learner's report ended in a run it then left: a resend, or a later run of the
    month, took the delivery over (see webapp/core/lifecycle/moves.py).

    The ledger keeps one delivery a learner a month, and it moves to the run that sends it
    now; this row is what stays behind, so the earlier run's page and figures keep their
    learner and the learner page lists every send of a month. Written once, never changed.
    """

    __tablename__ = "send_record"
    __table_args__ = (
        # A run's page and counts read its records beside its deliveries by this index.
        Index("ix_send_record_run_state", "run_id", "state"),
        # The learner page lists a learner's sends.
        Index("ix_send_record_user_month", "user_id", "month"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("delivery.id"), index=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("report_run.id"))
    # The run that took the delivery over from this one.
    next_run_id: Mapped[int] = mapped_column(ForeignKey("report_run.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    month: Mapped[str] = mapped_column(String(7))
    state: Mapped[str] = mapped_column(String(12))
    reason: Mapped[str | None] = mapped_column(Text)
    last_error: Mapped[str | None] = mapped_column(Text)
    smtp_code: Mapped[int | None] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    message_id: Mapped[str] = mapped_column(String(255))
    # What was mailed is known by its hash; the copy itself stays with the delivery's last send.
    message_sha256: Mapped[str | None] = mapped_column(String(64))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    # When its outcome in that run was last decided (the delivery's updated_at then).
    decided_at: Mapped[datetime] = mapped_column(DateTime)
    recorded_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


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
