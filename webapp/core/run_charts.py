"""The figures a run's charts draw: its sends over time, and its outcomes by class.

Both are counted by the database (GROUP BY), whatever the size of the run, over the run's
deliveries and the records of those that have since moved on to another run (a resend): the
run's picture keeps every learner it had, as its counts do. A failure's or a
skip's class is read from what the ledger keeps of it: the SMTP code, the error and the reason
the senders write (webapp/core/lanes.py, webapp/core/suppression.py, webapp/core/mail/).
"""

import math
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Integer
from sqlalchemy import and_
from sqlalchemy import case
from sqlalchemy import cast
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import union_all
from sqlalchemy.orm import Session

from webapp.core.clock import utcnow
from webapp.core.lifecycle.runs import ledger_counts
from webapp.core.models import Delivery
from webapp.core.models import ReportRun
from webapp.core.models import SendRecord
from webapp.core.states import DeliveryState

# Bucket sizes in seconds, from a tenth of a second (the demo's 200 reports go in under two)
# to a day; the smallest that keeps a run within MAX_BUCKETS columns is used.
BUCKETS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)
BUCKETS += (7200, 10800, 21600, 43200, 86400)
MAX_BUCKETS = 40


@dataclass(frozen=True)
class Timeline:
    """Reports sent in each bucket of `bucket` seconds from `start` (the run's start)."""

    start: datetime
    bucket: float
    counts: list[int]

    @property
    def sent(self) -> int:
        return sum(self.counts)


def bucket_for(seconds: float) -> float:
    """The smallest bucket that cuts `seconds` into at most MAX_BUCKETS pieces."""
    for size in BUCKETS:
        if seconds <= size * MAX_BUCKETS:
            return size
    return math.ceil(seconds / MAX_BUCKETS / BUCKETS[-1]) * BUCKETS[-1]


def _bucket_of(session: Session, moment, start: datetime, size: float):
    """The number of the bucket `moment` falls in (moments from `start` on)."""
    if session.get_bind().dialect.name == "sqlite":
        # julianday() keeps milliseconds in a double of days: a second comes back as
        # 0.99999995, so half a millisecond is added before cutting. Truncation is the floor
        # here, as no moment is before the start (and SQLite may be built without floor()).
        seconds = (func.julianday(moment) - func.julianday(start)) * 86400.0 + 0.0005
        return cast(seconds / size, Integer)
    return func.floor(func.extract("epoch", moment - start) / size)


def sends_over_time(session: Session, run: ReportRun) -> Timeline:
    """The run's reports sent, per bucket of time since it started; the bucket fits the run's
    length (so far, while it runs)."""
    start = run.started_at or run.created_at
    end = run.finished_at or utcnow()
    size = bucket_for(max((end - start).total_seconds(), 0.0))
    counts = _bucketed(session, run.id, start, size)
    if len(counts) > MAX_BUCKETS:
        # Sent long after the run had finished (a retry of its failures days later): one
        # more pass with buckets that fit the whole span.
        size = bucket_for(len(counts) * size)
        counts = _bucketed(session, run.id, start, size)
    return Timeline(start, size, counts)


def _bucketed(session: Session, run_id: int, start: datetime, size: float) -> list[int]:
    # Grouped by the column of a subquery: PostgreSQL would not see that an expression with
    # parameters in the SELECT and the same one in the GROUP BY are one.
    sent = union_all(
        *(
            select(_bucket_of(session, t.sent_at, start, size).label("bucket")).where(
                t.run_id == run_id, t.state == DeliveryState.SENT, t.sent_at >= start
            )
            for t in (Delivery, SendRecord)
        )
    ).subquery()
    rows = session.execute(select(sent.c.bucket, func.count()).group_by(sent.c.bucket)).all()
    found = {int(i): n for i, n in rows}
    counts = [0] * (max(found, default=-1) + 1)
    for i, n in found.items():
        counts[i] = n
    return counts


class Outcome(StrEnum):
    """What became of a run's report, finer than its state: why it failed or was skipped."""

    SENT = "sent"
    FAILED_ADDRESS = "failed_address"  # the address on file cannot be mailed
    FAILED_MAILBOX_GONE = "failed_mailbox_gone"  # 5xx: no such mailbox (a hard bounce)
    FAILED_REFUSED = "failed_refused"  # any other 5xx: refused for good
    FAILED_TEMPORARY = "failed_temporary"  # 4xx until the attempts ran out
    FAILED_NO_REPLY = "failed_no_reply"  # network errors until the attempts ran out
    FAILED_OTHER = "failed_other"
    SKIPPED_UNSUBSCRIBED = "skipped_unsubscribed"
    SKIPPED_BOUNCED = "skipped_bounced"  # listed after an earlier hard bounce
    SKIPPED_ADMIN = "skipped_admin"  # put on the suppression list by an admin
    SKIPPED_EMPTY = "skipped_empty"  # no attempts in the month
    SKIPPED_GONE = "skipped_gone"  # the learner no longer exists
    SKIPPED_OTHER = "skipped_other"
    UNKNOWN = "unknown"
    CANCELLED = "cancelled"
    WAITING = "waiting"  # pending or being sent


def _kind(t):
    """What became of a failed or skipped report, from the words the senders write (as SQL
    LIKE patterns). A failure settled before any SMTP work keeps its reason (an address
    build_message refused); one refused by the server has none."""
    failed = (
        (t.reason.is_not(None), Outcome.FAILED_ADDRESS),
        (
            t.last_error.like("%the address is on the suppression list now"),
            Outcome.FAILED_MAILBOX_GONE,
        ),
        (and_(t.smtp_code >= 500, t.smtp_code < 600), Outcome.FAILED_REFUSED),
        (and_(t.smtp_code >= 400, t.smtp_code < 500), Outcome.FAILED_TEMPORARY),
        (t.last_error.like("gave up after %"), Outcome.FAILED_NO_REPLY),
    )
    skipped = (
        (t.reason.like("unsubscribed%"), Outcome.SKIPPED_UNSUBSCRIBED),
        (t.reason.like("%bounced for good%"), Outcome.SKIPPED_BOUNCED),
        (t.reason.like("suppressed by an admin%"), Outcome.SKIPPED_ADMIN),
        (t.reason.like("no attempts in %"), Outcome.SKIPPED_EMPTY),
        (t.reason == "learner no longer exists", Outcome.SKIPPED_GONE),
    )
    return case(
        (t.state == DeliveryState.FAILED, case(*failed, else_=Outcome.FAILED_OTHER.value)),
        else_=case(*skipped, else_=Outcome.SKIPPED_OTHER.value),
    )


_BY_STATE = {
    DeliveryState.SENT: Outcome.SENT,
    DeliveryState.UNKNOWN: Outcome.UNKNOWN,
    DeliveryState.CANCELLED: Outcome.CANCELLED,
    DeliveryState.PENDING: Outcome.WAITING,
    DeliveryState.SENDING: Outcome.WAITING,
}


def outcomes(
    session: Session, run_id: int, by_state: dict[str, int] | None = None
) -> dict[Outcome, int]:
    """The run's reports by outcome, every outcome present (zero when none had it);
    `by_state` saves a query when the caller has just counted the ledger's states."""
    result = dict.fromkeys(Outcome, 0)
    if by_state is None:
        by_state = ledger_counts(session, run_id)
    for state, outcome in _BY_STATE.items():
        result[outcome] += by_state[state]
    if by_state[DeliveryState.FAILED] or by_state[DeliveryState.SKIPPED]:
        # Only the failed and skipped rows are read for their words: sent ones are counted
        # from the (run, state) index above.
        decided = (DeliveryState.FAILED, DeliveryState.SKIPPED)
        kinds = union_all(
            *(
                select(_kind(t).label("kind")).where(t.run_id == run_id, t.state.in_(decided))
                for t in (Delivery, SendRecord)
            )
        ).subquery()
        rows = session.execute(select(kinds.c.kind, func.count()).group_by(kinds.c.kind)).all()
        for outcome, n in rows:
            result[Outcome(outcome)] += n
    return result
