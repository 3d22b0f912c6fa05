"""The figures /metrics shows, read from the ledger at scrape time: every process's work is
in the database, so no process keeps counters of its own and none are lost on a restart."""

from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta

from sqlalchemy import case
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.core.clock import utcnow
from webapp.core.models import Delivery
from webapp.core.models import ReportRun
from webapp.core.models import WorkerBeat
from webapp.core.states import DeliveryState
from webapp.core.states import RunState

# Upper bounds (seconds) of the buckets of a delivery's wait, from its run's start to its 250.
WAIT_BUCKETS = (1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600)
# Sent deliveries the histogram counts: those of the last day.
RECENT = timedelta(days=1)


@dataclass(frozen=True)
class Figures:
    deliveries: dict[str, int]  # by state, every state present
    runs: dict[str, int]  # by state, every state present
    smtp_failures: dict[tuple[str, int], int]  # (state, SMTP code) -> deliveries
    # Deliveries sent in the last day, by seconds from their run's start to their 250: how
    # many took at most each bound of WAIT_BUCKETS, how many in all, and their seconds summed.
    wait_buckets: list[int]
    wait_count: int
    wait_sum: float
    heartbeats: list[tuple[str, int, datetime]]  # host, pid, last beat


def _by_state(session: Session, column, states) -> dict[str, int]:
    counts = dict.fromkeys(map(str, states), 0)
    counts.update(dict(session.execute(select(column, func.count()).group_by(column)).all()))
    return counts


def _seconds_between(session: Session, later, earlier):
    if session.get_bind().dialect.name == "sqlite":
        return (func.julianday(later) - func.julianday(earlier)) * 86400.0
    return func.extract("epoch", later - earlier)


def read(session: Session) -> Figures:
    """The ledger's figures now: a handful of grouped queries."""
    failures = session.execute(
        select(Delivery.state, Delivery.smtp_code, func.count())
        .where(Delivery.smtp_code.is_not(None), Delivery.smtp_code >= 400)
        .group_by(Delivery.state, Delivery.smtp_code)
    ).all()
    waited = _seconds_between(session, Delivery.sent_at, ReportRun.started_at)
    # Counted by the database: a scrape must not read a row per report of the last day.
    row = session.execute(
        select(
            *(func.coalesce(func.sum(case((waited <= b, 1), else_=0)), 0) for b in WAIT_BUCKETS),
            func.count(),
            func.coalesce(func.sum(waited), 0),
        )
        .select_from(Delivery)
        .join(ReportRun, ReportRun.id == Delivery.run_id)
        .where(
            Delivery.state == DeliveryState.SENT,
            Delivery.sent_at >= utcnow() - RECENT,
            ReportRun.started_at.is_not(None),
        )
    ).one()
    beats = session.execute(select(WorkerBeat.host, WorkerBeat.pid, WorkerBeat.beat_at)).all()
    return Figures(
        deliveries=_by_state(session, Delivery.state, DeliveryState),
        runs=_by_state(session, ReportRun.state, RunState),
        smtp_failures={(state, code): n for state, code, n in failures},
        wait_buckets=[int(n) for n in row[: len(WAIT_BUCKETS)]],
        wait_count=int(row[-2]),
        wait_sum=float(row[-1]),
        heartbeats=[tuple(row) for row in beats],
    )
