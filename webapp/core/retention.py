"""Retention of mailed copies: a sent report's bytes go after MESSAGE_RETENTION_DAYS.

Only the compressed copy (`delivery.message`, about 9 KB) is removed; the row stays with its
Message-ID and the SHA-256 of what was mailed, so a report whose copy was removed is still
known as sent: `message IS NULL AND message_sha256 IS NOT NULL`.

No index covers `sent_at` or `message`, so looking for old copies would read the whole ledger
in one statement. Instead the walk goes up the primary key in windows of `batch_size` ids:
each batch reads at most that many rows through the key and commits at once, so none scans
the table or holds a write lock for long. A call does at most `max_batches` and says where the
next one goes on (the periodic task keeps that in the key-value store).

A pass ends at the first row created after the cutoff: a report is sent after its row is
created, so the rows above it are too young. The next pass starts from the lowest id again,
which is how a report sent again later (a new copy in an old row) is found once its new copy
is old enough.
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
# SQLite (whose writers wait that long) on a 2-core VM; one over removed copies, 1 to 2 ms.
BATCH_SIZE = 500
# 100,000 ids a call, at most about 4 s (PostgreSQL) or 10 s (SQLite) of one worker: the
# month of 100,000 learners whose copies came of age goes in one hourly call.
BATCHES_PER_CALL = 200
# Where the walk stopped: the last id the previous call looked at, 0 to start a new pass.
CURSOR_KEY = "retention:after-id"

_D = Delivery.__table__


@dataclass(frozen=True)
class Purge:
    """What one call did, and where the next goes on."""

    purged: int  # copies removed
    batches: int
    after_id: int  # the next call starts above this id; 0: this pass is over

    @property
    def pass_over(self) -> bool:
        """True when the walk reached the young rows or the end: the next call starts anew."""
        return self.after_id == 0


def cutoff(now: datetime, days: int) -> datetime:
    """Copies of reports sent before this moment are removed."""
    return now - timedelta(days=days)


def purge_mailed_copies(
    session: Session,
    before: datetime,
    *,
    after_id: int = 0,
    batch_size: int = BATCH_SIZE,
    max_batches: int = BATCHES_PER_CALL,
) -> Purge:
    """Remove the mailed copies of reports sent before `before`, walking up from `after_id`,
    each batch in a transaction of its own; the rows, Message-IDs and hashes stay."""
    purged = 0
    for batch in range(max_batches):
        # The next row that exists: gaps in the ids cost no batch.
        head = session.execute(
            select(_D.c.id, _D.c.created_at).where(_D.c.id > after_id).order_by(_D.c.id).limit(1)
        ).first()
        # Ids follow creation but for the few seconds two inserts overlap; a row missed by
        # that is taken by the next hour's pass, whose cutoff is an hour later.
        if head is None or head.created_at >= before:
            session.commit()
            return Purge(purged, batch, 0)
        last = head.id + batch_size - 1
        purged += session.execute(
            update(_D)
            .where(
                _D.c.id.between(head.id, last),
                _D.c.sent_at < before,
                _D.c.message.is_not(None),
                # Never leave a row that cannot be told apart from one never sent.
                _D.c.message_sha256.is_not(None),
            )
            # Removing a copy is no progress of any run: the reaper's stall check reads
            # progress from updated_at.
            .values(message=None, updated_at=_D.c.updated_at)
        ).rowcount
        session.commit()
        after_id = last
    return Purge(purged, max_batches, after_id)


def purge_due(
    ctx: Context,
    now: datetime | None = None,
    *,
    batch_size: int = BATCH_SIZE,
    max_batches: int = BATCHES_PER_CALL,
) -> Purge:
    """One periodic call: go on with the walk where the last call stopped.

    Two calls at once would do no harm (each batch is an idempotent UPDATE); the periodic
    task runs on one consumer an hour anyway.
    """
    before = cutoff(now or utcnow(), ctx.settings.MESSAGE_RETENTION_DAYS)
    stored = ctx.store.get(CURSOR_KEY)
    # A lost or odd value starts a new pass: slower, never wrong.
    after_id = stored if type(stored) is int and stored > 0 else 0
    result = purge_mailed_copies(
        ctx.session, before, after_id=after_id, batch_size=batch_size, max_batches=max_batches
    )
    ctx.store.put(CURSOR_KEY, result.after_id)
    return result
