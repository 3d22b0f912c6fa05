"""The progress read model: a run's snapshot, computed from the ledger and kept in a store.

Workers publish a run's snapshot as they go; the progress fragment and task-status read it
without consuming it, so polls are cheap and repeated polls give the same answer. The store
is handed in (Huey's result storage in production, see webapp/infra/kvstore.py).
"""

import dataclasses
import io
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from typing import Protocol

from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import union_all
from sqlalchemy.orm import Session

from webapp.core import tally
from webapp.core.clock import utcnow
from webapp.core.lifecycle.runs import ledger_counts
from webapp.core.models import Delivery
from webapp.core.models import ReportRun
from webapp.core.models import SendRecord
from webapp.core.models import User
from webapp.core.states import DELIVERY_FINISHED
from webapp.core.states import DELIVERY_OPEN
from webapp.core.states import RUN_ACTIVE
from webapp.core.states import RUN_OPEN
from webapp.core.states import DeliveryState
from webapp.core.states import RunState

log = logging.getLogger(__name__)


class SnapshotStore(Protocol):
    """Where snapshots are kept: JSON values under string keys, read without consuming."""

    def get(self, key: str) -> Any: ...

    def put(self, key: str, value: Any) -> None: ...

    def put_json(self, key: str, text: str) -> None: ...

    def delete(self, key: str) -> None: ...


@dataclass(frozen=True)
class LearnerOutcome:
    """One learner's line in a finished run's results."""

    user_id: int
    username: str
    state: str
    error: str | None

    @property
    def success(self) -> bool:
        return self.state == DeliveryState.SENT


@dataclass(frozen=True)
class Snapshot:
    """A run's state and counts at one moment, with its rate and the time left.

    rate_per_second counts sends only (webapp/core/tally.py); success_rate is 0.0 when
    nothing was attempted, as the API always said, where success_percent is None.
    """

    task_id: str
    run_id: int
    month_year: str
    scope: str
    user_id: int | None
    state: str
    pause_reason: str | None
    error: str | None
    counts: dict[str, int]
    total: int
    done: int
    percent: float
    success_rate: float
    rate_per_second: float | None
    eta_seconds: int | None
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    updated_at: str
    results: list[LearnerOutcome] | None = None

    @property
    def is_open(self) -> bool:
        return self.state in RUN_OPEN

    @property
    def sent(self) -> int:
        return self.counts[DeliveryState.SENT]

    @property
    def failed(self) -> int:
        return self.counts[DeliveryState.FAILED]

    @property
    def attempted(self) -> int:
        return tally.attempted(self.counts)

    @property
    def in_flight(self) -> int:
        return tally.in_flight(self.counts)

    @property
    def success_percent(self) -> float | None:
        return tally.success_percent(self.counts)

    @property
    def parts(self) -> list[tally.BarPart]:
        return tally.bar_parts(self.counts, self.total)

    def to_store(self) -> dict:
        """The snapshot as the JSON kept in the store."""
        return dataclasses.asdict(self)

    @classmethod
    def from_store(cls, data: dict) -> "Snapshot":
        """The snapshot from what to_store() kept."""
        results = data.get("results")
        fields = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in fields}
        if results is not None:
            values["results"] = [LearnerOutcome(**r) for r in results]
        return cls(**values)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def snapshot_of(run: ReportRun, counts: dict[str, int]) -> Snapshot:
    """The snapshot for a run and its counts: state, counts, rate and time left.

    The rate is of sends only: reports skipped or cancelled took no time to decide, and
    counted as throughput they made a run cancelled after 2 of 200 look fast and nearly
    done. A paused run is given no time left: nothing moves until someone resumes it.
    """
    total = sum(counts.values())
    done = sum(counts[s] for s in DELIVERY_FINISHED)
    attempted = tally.attempted(counts)
    now = utcnow()
    rate = None
    eta_seconds = None
    if run.started_at and attempted:
        elapsed = max(((run.finished_at or now) - run.started_at).total_seconds(), 0.001)
        rate = round(attempted / elapsed, 2)
        if run.state in RUN_ACTIVE and rate > 0:
            eta_seconds = round(tally.still_open(counts) / rate)
    sent = counts[DeliveryState.SENT]
    return Snapshot(
        task_id=run.task_id,
        run_id=run.id,
        month_year=run.month,
        scope=run.scope,
        user_id=run.user_id,
        state=run.state,
        pause_reason=run.pause_reason,
        error=run.error,
        counts=counts,
        total=total,
        done=done,
        percent=round(100 * done / total, 1) if total else (0.0 if run.is_open else 100.0),
        success_rate=round(100 * sent / attempted, 1) if attempted else 0.0,
        rate_per_second=rate,
        eta_seconds=eta_seconds,
        created_at=_iso(run.created_at),
        started_at=_iso(run.started_at),
        finished_at=_iso(run.finished_at),
        updated_at=now.isoformat(),
    )


def frozen_counts(run: ReportRun) -> dict[str, int]:
    """The counts frozen on a closed run, in the ledger's shape."""
    counts = dict.fromkeys(map(str, DELIVERY_OPEN), 0)
    for state in DELIVERY_FINISHED:
        counts[state] = getattr(run, state) or 0
    return counts


def learner_results(session: Session, run_id: int) -> list[LearnerOutcome]:
    """Per learner of the run: the outcome and, when not sent, why."""
    return [LearnerOutcome(**line) for line in _learner_lines(session, run_id)]


def _key(task_id: str) -> str:
    return f"run-progress:{task_id}"


def _learner_lines(session: Session, run_id: int):
    """Per learner of the run, LearnerOutcome's fields as a dict, read in batches: its
    deliveries, and how those that moved to another run since had ended in this one."""
    lines = union_all(
        *(
            select(t.user_id, t.state, t.last_error, t.reason).where(t.run_id == run_id)
            for t in (Delivery, SendRecord)
        )
    ).subquery()
    rows = session.execute(
        select(lines.c.user_id, User.username, lines.c.state, lines.c.last_error, lines.c.reason)
        .join(User, User.id == lines.c.user_id)
        .order_by(lines.c.user_id)
        .execution_options(yield_per=2000)
    )
    for uid, username, state, error, reason in rows:
        yield {
            "user_id": uid,
            "username": username,
            "state": state,
            "error": error or (reason if state != DeliveryState.SENT else None),
        }


def publish_closed(store: SnapshotStore, session: Session, run: ReportRun) -> Snapshot:
    """Publish a closed run's snapshot with every learner's line, as publish(with_results=True)
    would; the lines go into the stored JSON as they are read. Held as objects all at once,
    the lines of a 100,000-learner run took a worker from 115 to 200 MB.

    Returns the snapshot without its results (the worker has no use for them).
    """
    snap = snapshot_of(run, ledger_counts(session, run.id))
    head = snap.to_store()
    head.pop("results")
    text = io.StringIO()
    text.write(json.dumps(head, separators=(",", ":"))[:-1])
    text.write(',"results":[')
    for n, line in enumerate(_learner_lines(session, run.id)):
        text.write("," if n else "")
        text.write(json.dumps(line, separators=(",", ":"), ensure_ascii=False))
    text.write("]}")
    try:
        store.put_json(_key(run.task_id), text.getvalue())
    except Exception:  # noqa: BLE001
        log.warning("could not publish the progress of run %s", run.id, exc_info=True)
    if session.scalar(select(ReportRun.state).where(ReportRun.id == run.id)) != snap.state:
        # Reopened meanwhile (failures retried): the open state's snapshot wins, as in publish.
        return publish(store, session, session.get(ReportRun, run.id, populate_existing=True))
    return snap


def publish(
    store: SnapshotStore, session: Session, run: ReportRun, *, with_results: bool = False
) -> Snapshot:
    """Recompute the run's snapshot from the ledger and keep it in the store.

    The snapshot is a cache of the ledger: a store that is down must not fail the caller
    (a chunk mid-way, or an API request whose run is already committed).
    """
    snap = _put(store, session, run, with_results)
    # Another process may have moved the run (closed or paused it) and published between our
    # read of `run` and our put: ours would then hide its snapshot for good, and task-status
    # would say "running" forever. Whoever puts last checks the state after its put, so the
    # last snapshot written is always the run's state.
    state = session.scalar(select(ReportRun.state).where(ReportRun.id == run.id))
    if state is not None and state != snap.state:
        run = session.get(ReportRun, run.id, populate_existing=True)
        snap = _put(store, session, run, with_results or not run.is_open)
    return snap


def _put(store: SnapshotStore, session: Session, run: ReportRun, with_results: bool) -> Snapshot:
    snap = snapshot_of(run, ledger_counts(session, run.id))
    if with_results:
        snap = dataclasses.replace(snap, results=learner_results(session, run.id))
    try:
        store.put(_key(run.task_id), snap.to_store())
    except Exception:  # noqa: BLE001
        log.warning("could not publish the progress of run %s", run.id, exc_info=True)
    return snap


def read(store: SnapshotStore, task_id: str) -> Snapshot | None:
    """The published snapshot, without consuming it; None when there is none."""
    data = store.get(_key(task_id))
    return Snapshot.from_store(data) if data else None


def forget(store: SnapshotStore, task_id: str) -> None:
    """Drop a published snapshot (after a run is deleted)."""
    store.delete(_key(task_id))


def current(store: SnapshotStore, session: Session, run: ReportRun, *, exact=False) -> Snapshot:
    """What the progress views show: the workers' snapshot while the run is open; once it has
    closed, the counts frozen on the run, or with `exact` the ledger's (one indexed GROUP BY:
    a report in flight when the run was cancelled may have finished since). With `exact`, a
    paused run's counts come from the ledger too: its reports in flight finish after the
    pause was published, and the deliveries listed under the card already say so."""
    if exact and run.state == RunState.PAUSED:
        return snapshot_of(run, ledger_counts(session, run.id))
    if not run.is_open:
        if exact:
            return snapshot_of(run, ledger_counts(session, run.id))
        return snapshot_of(run, frozen_counts(run))
    snap = read(store, run.task_id)
    if snap is None or snap.state != run.state:
        snap = publish(store, session, run)
    return snap


def run_by_task_id(session: Session, task_id: str) -> ReportRun | None:
    """The run the API's task_id names."""
    return session.scalar(select(ReportRun).where(ReportRun.task_id == task_id))


def recent_runs(session: Session, limit: int = 20) -> list[ReportRun]:
    """The newest runs first."""
    return list(session.scalars(select(ReportRun).order_by(ReportRun.id.desc()).limit(limit)))


def open_runs_count(session: Session) -> int:
    """How many runs are still going."""
    return session.scalar(
        select(func.count()).select_from(ReportRun).where(ReportRun.state.in_(RUN_OPEN))
    )
