"""Time helpers: the ledger and the platform store naive UTC."""

from datetime import UTC
from datetime import datetime


def utcnow() -> datetime:
    """Now in UTC, naive, as every timestamp column stores it."""
    return datetime.now(UTC).replace(tzinfo=None)
