"""Which consumers are alive: each consumer process writes a heartbeat every BEAT_SECONDS
into the database every process shares; the Workers page, the run page and /readyz read it.

A consumer that stops gracefully removes its row; one that was killed stops beating and
shows as silent. Every live consumer looks for silent ones after each beat and takes their
work back at once (webapp/core/reaper.py); the row itself goes after a day.
"""

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta

from sqlalchemy import Select
from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import Session

from webapp.core.clock import utcnow
from webapp.core.models import WorkerBeat

log = logging.getLogger(__name__)

BEAT_SECONDS = 10.0
# Three beats missed: the consumer is taken for gone.
SILENT_AFTER = timedelta(seconds=3 * BEAT_SECONDS)
FORGET_AFTER = timedelta(days=1)
# How long a stop waits for a beat under way (a database that answers slowly) to end.
STOP_WAIT_SECONDS = 10.0


@dataclass(frozen=True)
class Consumer:
    """What a consumer process says of itself, from its command line."""

    host: str
    pid: int
    worker_type: str
    workers: int
    periodic: bool
    started_at: datetime

    @property
    def key(self) -> str:
        return f"{self.host}:{self.pid}:{self.started_at:%Y%m%d%H%M%S}"


def beat(session: Session, consumer: Consumer, tasks_done: int, current_run: int | None) -> None:
    """Record that the consumer is alive now, with its figures."""
    now = utcnow()
    values = {"beat_at": now, "tasks_done": tasks_done, "current_run_id": current_run}
    changed = session.execute(
        update(WorkerBeat).where(WorkerBeat.id == consumer.key).values(**values)
    ).rowcount
    if not changed:
        session.execute(
            insert(WorkerBeat).values(
                id=consumer.key,
                host=consumer.host,
                pid=consumer.pid,
                worker_type=consumer.worker_type,
                workers=consumer.workers,
                periodic=consumer.periodic,
                started_at=consumer.started_at,
                **values,
            )
        )
        session.execute(delete(WorkerBeat).where(WorkerBeat.beat_at < now - FORGET_AFTER))
    session.commit()


def gone(session: Session, consumer: Consumer) -> None:
    """The consumer stops: its row goes."""
    session.execute(delete(WorkerBeat).where(WorkerBeat.id == consumer.key))
    session.commit()


def listed(session: Session) -> list[WorkerBeat]:
    """Every consumer heard from in the last day, the most recent beat first."""
    return list(session.scalars(select(WorkerBeat).order_by(WorkerBeat.beat_at.desc())))


def is_silent(beat_row: WorkerBeat, now: datetime | None = None) -> bool:
    """True when the consumer has missed three beats."""
    return (now or utcnow()) - beat_row.beat_at > SILENT_AFTER


def silent(now: datetime | None = None) -> Select:
    """The keys of consumers that have missed three beats: taken for dead."""
    cutoff = (now or utcnow()) - SILENT_AFTER
    return select(WorkerBeat.id).where(WorkerBeat.beat_at < cutoff)


def take_runs_of_silent(session: Session) -> set[int]:
    """The runs silent consumers were working on when they stopped, each handed out once: of
    several consumers that look at once, only the one whose update lands gets a run."""
    rows = session.execute(
        select(WorkerBeat.id, WorkerBeat.current_run_id).where(
            WorkerBeat.id.in_(silent()), WorkerBeat.current_run_id.is_not(None)
        )
    ).all()
    taken = set()
    for key, run_id in rows:
        took = session.execute(
            update(WorkerBeat)
            .where(WorkerBeat.id == key, WorkerBeat.current_run_id == run_id)
            .values(current_run_id=None)
        ).rowcount
        if took:
            taken.add(run_id)
    session.commit()
    return taken


def newest_beat_age(session: Session) -> float | None:
    """Seconds since any consumer last beat; None when none ever did (in the last day)."""
    newest = session.scalar(select(func.max(WorkerBeat.beat_at)))
    return None if newest is None else (utcnow() - newest).total_seconds()


def alive_at(age: float | None) -> bool:
    """True when a newest beat `age` seconds old (None: none) is within three beats."""
    return age is not None and age <= SILENT_AFTER.total_seconds()


def any_alive(session: Session) -> bool:
    """True when some consumer beat within the last three beats."""
    return alive_at(newest_beat_age(session))


class Heartbeat:
    """A consumer process's heartbeat: a thread that beats every BEAT_SECONDS, and the
    figures it reports (tasks done, the run a task is working on)."""

    def __init__(
        self,
        sessions: Callable[[], Session],
        consumer: Consumer,
        after_beat: Callable[[], object] | None = None,
    ) -> None:
        self.sessions = sessions
        self.consumer = consumer
        # Called after each beat: where a live consumer notices the dead ones.
        self.after_beat = after_beat
        self.tasks_done = 0
        self._runs: dict[int, int] = {}  # run id -> tasks of it running now
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._beat_until_stopped, name="heartbeat")
        self._thread.daemon = True

    def start(self) -> None:
        """Beat now, then every BEAT_SECONDS."""
        self._thread.start()

    def task_started(self, run_id: int | None) -> None:
        """A task begins (of this run, if it has one)."""
        if run_id is not None:
            with self._lock:
                self._runs[run_id] = self._runs.get(run_id, 0) + 1

    def task_finished(self, run_id: int | None) -> None:
        """A task ended, whatever came of it."""
        with self._lock:
            self.tasks_done += 1
            if run_id is not None:
                left = self._runs.get(run_id, 1) - 1
                if left:
                    self._runs[run_id] = left
                else:
                    self._runs.pop(run_id, None)

    def stop(self) -> None:
        """Stop beating and remove the consumer's row (a graceful stop)."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        if self._thread.is_alive():
            # A beat under way would write the row again after it was removed, and its
            # connection would outlive the engine a stopping process disposes of.
            self._thread.join(STOP_WAIT_SECONDS)
        try:
            with contextlib.closing(self.sessions()) as session:
                gone(session, self.consumer)
        except Exception:  # noqa: BLE001  (a stopping consumer must stop; the row ages out)
            log.warning("could not remove the consumer's heartbeat", exc_info=True)

    def _beat_until_stopped(self) -> None:
        while not self._stopped.is_set():
            with self._lock:
                done, current = self.tasks_done, max(self._runs, default=None)
            try:
                with contextlib.closing(self.sessions()) as session:
                    beat(session, self.consumer, done, current)
                if self.after_beat is not None:
                    self.after_beat()
            except Exception:  # noqa: BLE001  (the database is back before anyone misses a beat)
                log.warning("could not write the consumer's heartbeat", exc_info=True)
            self._stopped.wait(BEAT_SECONDS)
