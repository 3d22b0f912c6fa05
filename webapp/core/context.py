"""What a unit of the product's work is handed: its session and the process's services."""

from dataclasses import dataclass

from sqlalchemy.orm import Session

from webapp.core.progress import SnapshotStore
from webapp.infra.ratelimit import RateLimiter
from webapp.infra.settings import Settings


@dataclass(frozen=True)
class Context:
    """A database session of its own, the settings, the store that keeps progress snapshots,
    and the send rate limiter shared by the process (None when sending is unlimited)."""

    session: Session
    settings: Settings
    store: SnapshotStore
    limiter: RateLimiter | None = None
