"""The product's own running state: SMTP connection slots and the consumers' heartbeats."""

from datetime import datetime

from sqlalchemy import Boolean
from sqlalchemy import DateTime
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from webapp.core.tables.base import Base


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
