"""The one way onto the queue: the web app, the reaper and the tasks all enqueue through here.

The database ledger is the truth and Huey is the doorbell: a run and its deliveries are
committed before anything is enqueued, and a task carries ids only. The tasks themselves are
declared in tasks.py, which hands them to `bind()` when it is imported (the app factory and
the consumer both import it), so this module needs no import of tasks.py and no cycle forms.
"""

import logging
from dataclasses import dataclass

from huey import Huey
from huey.api import Task
from huey.api import TaskWrapper

from webapp.core.models import ReportRun
from webapp.core.states import RunScope
from webapp.core.states import RunState

log = logging.getLogger(__name__)


class QueueNotBound(RuntimeError):
    """tasks.py was not imported in this process, so there is nothing to enqueue with."""


@dataclass(frozen=True)
class _Tasks:
    huey: Huey
    drive_run: TaskWrapper  # process_all_reports(month_year, run_id)
    drive_one: TaskWrapper  # generate_and_send_user_report(user_id, month_year, run_id)
    send_chunk: TaskWrapper  # send_report_chunk(run_id, delivery_ids)
    reap: TaskWrapper  # reap_now()


_bound: _Tasks | None = None


def bind(huey: Huey, **tasks: TaskWrapper) -> None:
    """Give this module the queue and the tasks it enqueues (tasks.py calls it once)."""
    global _bound
    _bound = _Tasks(huey=huey, **tasks)


def _tasks() -> _Tasks:
    if _bound is None:
        raise QueueNotBound("the worker tasks are not loaded: import tasks (create_app does)")
    return _bound


def run(run: ReportRun) -> bool:
    """Enqueue the task that drives a new, resumed, retried or stalled run.

    False when the queue cannot be reached: the run is committed, so the reaper drives it
    from the ledger once the queue is back, and the caller still answers 202.
    """
    try:
        tasks = _tasks()
        if run.scope == RunScope.USER and run.state == RunState.QUEUED:
            # One learner: built and mailed in this one task, so a Resend goes out at once.
            tasks.drive_one(run.user_id, run.month, run.id)
        else:
            tasks.drive_run(run.month, run.id)
    except Exception:  # noqa: BLE001
        log.exception("Could not enqueue run %s; the reaper will drive it", run.id)
        return False
    return True


def chunks(run_id: int, delivery_ids: list[list[int]]) -> None:
    """Enqueue one task per chunk of a run's deliveries."""
    send_chunk = _tasks().send_chunk
    for ids in delivery_ids:
        send_chunk(run_id, ids)


def retry_later(run_id: int, delivery_ids: list[int], delay: float) -> None:
    """Enqueue a chunk's deliveries that want another try, after `delay` seconds."""
    _tasks().send_chunk.schedule(args=(run_id, delivery_ids), delay=max(delay, 0.1))


def reap_later(delay: float) -> None:
    """Enqueue another pass of the reaper after `delay` seconds."""
    _tasks().reap.schedule(delay=delay)


def again(task: Task) -> None:
    """Put a task back on the queue as it was (one a stopping consumer interrupted)."""
    _tasks().huey.enqueue(task)


def waiting() -> tuple[int, int]:
    """(tasks waiting in the queue, tasks scheduled for later)."""
    huey = _tasks().huey
    return huey.pending_count(), huey.scheduled_count()
