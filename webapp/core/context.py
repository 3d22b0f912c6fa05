"""What a unit of the product's work is handed: its session and the process's services."""

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from webapp.core.mail.pool import SmtpPool
from webapp.core.progress import SnapshotStore
from webapp.infra.ratelimit import RateLimiter
from webapp.infra.settings import Settings


@dataclass(frozen=True)
class Context:
    """A database session of its own, the settings, the store that keeps progress snapshots,
    and what the process shares between its tasks: the send rate limiter (None when sending
    is unlimited), the SMTP connection pool, and new database connections for sending lanes."""

    session: Session
    settings: Settings
    store: SnapshotStore
    limiter: RateLimiter | None = None
    smtp: SmtpPool | None = None
    connect: Callable[[], Connection] | None = None
