"""Retention of mailed copies: a sent report's bytes go after MESSAGE_RETENTION_DAYS.

Only the compressed copy (`delivery.message`, about 9 KB) is removed; the row stays with its
Message-ID and the SHA-256 of what was mailed, so a report whose copy was removed is still
known as sent: `message IS NULL AND message_sha256 IS NOT NULL`.

The oldest copies are found through a partial index on `sent_at` of the rows that still hold
one (ix_delivery_copy_sent, migration 0003): a batch reads the `batch_size` oldest and
clears them in a transaction of its own, whatever the size of the ledger, so none scans the
table or holds a write lock for long. A call does at most `max_batches`; the periodic task
calls it hourly, and a backlog (the first run after an upgrade) goes over a few hours.
"""

from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import Session

from webapp.core.clock import utcnow
from webapp.core.context import Context
from webapp.core.models import Delivery

# 500 copies are about 4.5 MB to free: such a batch took 20 ms on PostgreSQL and 50 ms on
# SQLite (whose writers wait that long) on a 2-core VM.
BATCH_SIZE = 500
# 100,000 copies a call, at most about 4 s (PostgreSQL) or 10 s (SQLite) of one worker: the
# month of 100,000 learners whose copies came of age goes in one hourly call.
BATCHES_PER_CALL = 200

_D = Delivery.__table__
# Never leave a row that cannot be told apart from one never sent: a copy without its hash
# (none is written so) stays.
_PURGEABLE = (_D.c.message.is_not(None), _D.c.message_sha256.is_not(None))


@dataclass(frozen=True)
class Purge:
    """What one call did."""

    purged: int  # copies removed
    batches: int
    done: bool  # False: the call stopped at max_batches with old copies left


def cutoff(now: datetime, days: int) -> datetime:
    """Copies of reports sent before this moment are removed."""
    return now - timedelta(days=days)


def purge_mailed_copies(
    session: Session,
    before: datetime,
    *,
    batch_size: int = BATCH_SIZE,
    max_batches: int = BATCHES_PER_CALL,
) -> Purge:
    """Remove the mailed copies of reports sent before `before`, oldest first, each batch in
    a transaction of its own; the rows, Message-IDs and hashes stay."""
    purged = 0
    for batch in range(max_batches):
        oldest = (
            select(_D.c.id)
            .where(_D.c.sent_at < before, *_PURGEABLE)
            .order_by(_D.c.sent_at)
            .limit(batch_size)
        )
        ids = list(session.scalars(oldest))
        if ids:
            purged += session.execute(
                update(_D)
                .where(_D.c.id.in_(ids), _D.c.sent_at < before, *_PURGEABLE)
                # Removing a copy is no progress of any run: the reaper's stall check reads
                # progress from updated_at.
                .values(message=None, updated_at=_D.c.updated_at)
            ).rowcount
        session.commit()
        if len(ids) < batch_size:
            return Purge(purged, batch + 1 if ids else batch, True)
    return Purge(purged, max_batches, False)


def purge_due(ctx: Context, now: datetime | None = None, **limits) -> Purge:
    """One periodic call: the copies older than MESSAGE_RETENTION_DAYS, up to the limits.

    Two calls at once would do no harm (each batch is an idempotent UPDATE); the periodic
    task runs on one consumer an hour anyway.
    """
    before = cutoff(now or utcnow(), ctx.settings.MESSAGE_RETENTION_DAYS)
    return purge_mailed_copies(ctx.session, before, **limits)
