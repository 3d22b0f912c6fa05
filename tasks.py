"""Huey tasks of Quiz Reports. Run a worker with: huey_consumer tasks.huey

Tasks take ids, never objects, and each call runs in a fresh app context.
"""

import functools
import logging
import os
import threading

from flask import Flask
from huey import crontab
from huey.signals import SIGNAL_INTERRUPTED

from webapp.infra.queue import huey

log = logging.getLogger("quiz_reports.tasks")

# A lost database connection or a locked SQLite file makes a task fail; trying again later
# is safe because every delivery is claimed by compare-and-set. (Read at import, like the
# queue itself: the decorators below need it.)
DB_RETRIES = {"retries": 3, "retry_delay": float(os.environ.get("TASK_RETRY_DELAY") or 15)}

_app: Flask | None = None
_app_lock = threading.Lock()


def worker_app() -> Flask:
    """The Flask app of this worker process, built once on first use."""
    global _app
    with _app_lock:
        if _app is None:
            from webapp import create_app

            _app = create_app()
        return _app


def use_app(app: Flask | None) -> None:
    """Run tasks against this app (tests with an immediate-mode queue use their own)."""
    global _app
    with _app_lock:
        _app = app


def in_app_context(fn):
    """Give each task call its own app context and database session."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with worker_app().app_context():
            return fn(*args, **kwargs)

    return wrapper


def _config():
    from flask import current_app

    return current_app.config


def _session():
    from webapp.infra.database import get_session

    return get_session()


@huey.task(**DB_RETRIES)
@in_app_context
def process_all_reports(month_year: str | None = None, run_id: int | None = None):
    """Drive a run: mark it running and fan its deliveries out as chunk tasks.

    Called without run_id (a cron job or a script), it starts the run for the month itself,
    defaulting to the last full month.
    """
    from webapp.core import runs
    from webapp.core import sending
    from webapp.core.months import Month

    session = _session()
    if run_id is None:
        month = Month.parse(month_year) if month_year else Month.last_full()
        try:
            run = runs.start_all(
                session,
                month,
                mail_from=_config()["MAIL_FROM"],
                skip_empty=_config()["SKIP_EMPTY_REPORTS"],
            )
        except runs.RunConflict as exc:
            log.info("process_all_reports: %s", exc.message)
            return {"message": exc.message, "task_id": exc.run.task_id if exc.run else None}
        run_id = run.id
    chunks = sending.begin_run(session, run_id, _config()["REPORT_CHUNK_SIZE"])
    for ids in chunks:
        send_report_chunk(run_id, ids)
    log.info("run %s: %d chunk(s) enqueued", run_id, len(chunks))
    return {"run_id": run_id, "chunks": len(chunks)}


@huey.task(**DB_RETRIES)
@in_app_context
def send_report_chunk(run_id: int, delivery_ids: list[int]):
    """Build and mail the reports of one chunk; schedule transient failures for later."""
    from webapp.core import sending

    outcome = sending.send_chunk(_session(), _config(), run_id, delivery_ids)
    if outcome.retry_ids:
        send_report_chunk.schedule(
            args=(run_id, outcome.retry_ids), delay=max(outcome.retry_delay, 0.1)
        )
    log.info(
        "run %s chunk of %d: %d sent, %d failed, %d skipped, %d unknown, %d to retry%s",
        run_id,
        len(delivery_ids),
        outcome.sent,
        outcome.failed,
        outcome.skipped,
        outcome.unknown,
        len(outcome.retry_ids),
        f", stopped ({outcome.stopped})" if outcome.stopped else "",
    )
    return {"sent": outcome.sent, "failed": outcome.failed, "retry": len(outcome.retry_ids)}


@huey.task(**DB_RETRIES)
@in_app_context
def generate_and_send_user_report(user_id: int, month_year: str, run_id: int | None = None):
    """Generate and mail one learner's report; without run_id it starts that run itself."""
    from webapp.core import runs
    from webapp.core import sending
    from webapp.core.months import Month

    session = _session()
    if run_id is None:
        run = runs.start_one(
            session, Month.parse(month_year), int(user_id), mail_from=_config()["MAIL_FROM"]
        )
        run_id = run.id
    chunks = sending.begin_run(session, run_id, 1)
    outcome = sending.send_chunk(session, _config(), run_id, chunks[0] if chunks else [])
    if outcome.retry_ids:
        send_report_chunk.schedule(args=(run_id, outcome.retry_ids), delay=outcome.retry_delay)
    return {"run_id": run_id, "sent": outcome.sent, "failed": outcome.failed}


@huey.task()
@in_app_context
def generate_user_report(user_id: int, month_year: str) -> str | None:
    """Render one learner's report and return its HTML (nothing is mailed)."""
    from webapp.core.mail.render import render_report
    from webapp.core.months import Month
    from webapp.core.report.builder import build_report

    report = build_report(_session(), int(user_id), Month.parse(month_year))
    return render_report(report).html if report else None


@huey.task()
@in_app_context
def send_report_email(user_id: int, month_year: str, html_content: str):
    """Mail the given HTML as the learner's report for the month (the seed's low-level task).

    The plain-text part comes from the learner's own report; the send is recorded in the
    ledger like any other, so the learner is not mailed again by a later run.
    """
    from webapp.core import runs
    from webapp.core import sending
    from webapp.core.months import Month

    session = _session()
    run = runs.start_one(
        session, Month.parse(month_year), int(user_id), mail_from=_config()["MAIL_FROM"]
    )
    ids = sending.begin_run(session, run.id, 1)
    outcome = sending.send_chunk(
        session, _config(), run.id, ids[0] if ids else [], html_override=html_content
    )
    return {"run_id": run.id, "sent": outcome.sent, "failed": outcome.failed}


@huey.periodic_task(crontab(minute="7"))
@in_app_context
def monthly_run():
    """Start the last full month's run once it is due (MONTHLY_RUN, _DAY, _HOUR)."""
    from webapp.core import runs
    from webapp.core import schedule
    from webapp.core.clock import utcnow
    from webapp.enqueue import enqueue

    config = _config()
    if not config["MONTHLY_RUN"]:
        return None
    session = _session()
    month = schedule.due_month(
        session, utcnow(), config["MONTHLY_RUN_DAY"], config["MONTHLY_RUN_HOUR"]
    )
    if month is None:
        return None
    try:
        run = runs.start_all(
            session, month, mail_from=config["MAIL_FROM"], skip_empty=config["SKIP_EMPTY_REPORTS"]
        )
    except runs.RunConflict:
        return None
    log.info("monthly run for %s started: run %s, %d learner(s)", month, run.id, run.total)
    enqueue(run)
    return run.task_id


@huey.periodic_task(crontab(minute="*"))
def reap():
    """Every minute, and again half a minute later: recover work Huey lost."""
    reap_now()
    reap_now.schedule(delay=30)


@huey.task()
@in_app_context
def reap_now():
    """Give expired leases back, re-drive orphaned runs and close finished ones."""
    from webapp.core import reaper

    return reaper.reap(_session(), _config())


@huey.on_startup()
def _reap_at_start():
    # A consumer that starts after a crash should not wait a minute to recover its work.
    try:
        reap_now.call_local()
    except Exception:  # noqa: BLE001  (startup must not die on a transient database error)
        log.exception("reaper at start-up failed; the periodic reaper will try again")


@huey.signal(SIGNAL_INTERRUPTED)
def _requeue_interrupted(signal, task, *args, **kwargs):
    # SIGTERM stops the consumer mid-task: give this process's claims back before the
    # message went out, and put the task back on the queue for the next consumer.
    from webapp.core import ledger

    try:
        with worker_app().app_context():
            released = ledger.release_held(_session())
        log.warning("interrupted %s: %d claim(s) released; task requeued", task.name, released)
    finally:
        huey.enqueue(task)
