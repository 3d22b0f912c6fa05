"""Huey tasks of Quiz Reports. Run a worker with: huey_consumer tasks.huey

Each task takes ids and calls the core. @job gives it a fresh context for every call (a
database session of its own, the process's settings, progress store and rate limiter) and
its retry policy. Every enqueue, the tasks' own included, goes through webapp/enqueue.py.
The worker needs no web framework: nothing here imports Flask.
"""

import contextlib
import functools
import inspect
import logging
import os
import socket
import sys
import threading
from collections.abc import Callable
from collections.abc import Iterator

from huey import crontab
from huey.consumer_options import OptionParserHandler
from huey.signals import SIGNAL_INTERRUPTED

from webapp import enqueue
from webapp.core import launch
from webapp.core import reaper
from webapp.core import retention
from webapp.core import schedule
from webapp.core import sending
from webapp.core import teaching_store
from webapp.core import workers
from webapp.core.clock import utcnow
from webapp.core.context import Context
from webapp.core.lifecycle import deliveries
from webapp.core.mail.pool import SmtpPool
from webapp.core.mail.render import letter_for
from webapp.core.mail.render import render_report
from webapp.core.mail.slots import ConnectionSlots
from webapp.core.mail.smtp_settings import SmtpSettings
from webapp.core.months import Month
from webapp.core.months import MonthNotOver
from webapp.core.report.builder import build_report
from webapp.infra import database
from webapp.infra import failpoints
from webapp.infra import logs
from webapp.infra.queue import build_huey
from webapp.infra.runtime import Runtime
from webapp.infra.settings import Settings

# The consumer imports this module before anything else exists: it reads the settings.
SETTINGS = Settings.from_env().validated()
huey = build_huey(SETTINGS)
failpoints.arm(SETTINGS.FAULT_KILL_AT)

log = logging.getLogger("quiz_reports.tasks")

# A lost database connection or a locked SQLite file makes a task fail; trying again later
# is safe because every delivery is claimed by compare-and-set.
DB_RETRIES = 3

_runtime: Runtime | None = None
_smtp: SmtpPool | None = None
_smtp_made_for: tuple = ()
# This consumer process's heartbeat; None outside a consumer (the web app, tests).
_heartbeat: workers.Heartbeat | None = None
_runtime_lock = threading.Lock()


def runtime() -> Runtime:
    """This process's runtime: built from the settings on first use, or the one a test gave."""
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            _runtime = Runtime(SETTINGS)
        return _runtime


def smtp_pool() -> SmtpPool:
    """This process's SMTP connections, shared by its tasks."""
    global _smtp, _smtp_made_for
    rt = runtime()
    settings = rt.settings
    with _runtime_lock:
        wanted = SmtpSettings.from_settings(settings)
        made_for = (wanted, settings.SMTP_MAX_CONNECTIONS, settings.SMTP_MAX_CONNECTIONS_TOTAL, rt)
        if _smtp is None or _smtp_made_for != made_for:
            if _smtp is not None:
                _smtp.close()
            total = settings.SMTP_MAX_CONNECTIONS_TOTAL
            # The slots shared by every process live in the database they share.
            shared = ConnectionSlots(rt.engine.connect, total) if total else None
            _smtp = SmtpPool(wanted, settings.SMTP_MAX_CONNECTIONS, shared)
            _smtp_made_for = made_for
        return _smtp


def use_runtime(given: Runtime | None) -> None:
    """Run tasks against this runtime (tests with an immediate-mode queue use their app's)."""
    global _runtime, _smtp
    with _runtime_lock:
        if _smtp is not None:
            _smtp.close()
        _runtime, _smtp = given, None


@contextlib.contextmanager
def fresh_context() -> Iterator[Context]:
    """A context for one unit of work: its own session, closed at the end."""
    rt = runtime()
    session = rt.session()
    try:
        yield Context(
            session=session,
            settings=rt.settings,
            store=rt.kv,
            limiter=rt.limiter,
            smtp=smtp_pool(),
            connect=rt.engine.connect,
        )
    finally:
        session.close()


_slots_claimed: dict[str, str] = {}


def first_in_slot(name: str) -> bool:
    """True for the first consumer to run periodic task `name` in this minute.

    Every consumer that runs periodic tasks schedules each of them; the first to start one in
    a minute claims the minute in the queue's store, and the others skip it. So starting
    every consumer without -n is safe. Each consumer removes its own earlier claims.
    """
    slot = utcnow().strftime("%Y%m%d%H%M")
    store = runtime().kv
    if not store.claim(f"periodic:{name}:{slot}"):
        log.info("periodic %s: another consumer runs it in slot %s", name, slot)
        return False
    earlier = _slots_claimed.get(name)
    _slots_claimed[name] = slot
    if earlier is not None and earlier != slot:
        store.delete(f"periodic:{name}:{earlier}")
    log.info("periodic %s: runs in slot %s", name, slot)
    return True


def job(*, retries: int = DB_RETRIES, periodic: Callable | None = None):
    """Declare a task: it gets a fresh context as its first argument, and its retry policy.

    periodic: a crontab() schedule, for a task the consumer runs by itself.
    """

    def declare(fn):
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def task(*args, **kwargs):
            # Every line the task logs names its run, when it has one; so does the beat.
            run_id = signature.bind_partial(None, *args, **kwargs).arguments.get("run_id")
            beating = _heartbeat
            if beating is not None:
                beating.task_started(run_id)
            try:
                with logs.about(run_id=run_id), fresh_context() as ctx:
                    return fn(ctx, *args, **kwargs)
            finally:
                if beating is not None:
                    beating.task_finished(run_id)

        if periodic is not None:

            @functools.wraps(fn)
            def once_a_slot():
                return task() if first_in_slot(fn.__name__) else None

            return huey.periodic_task(periodic, retries=retries)(once_a_slot)
        return huey.task(retries=retries, retry_delay=SETTINGS.TASK_RETRY_DELAY)(task)

    return declare


@job()
def process_all_reports(ctx: Context, month_year: str | None = None, run_id: int | None = None):
    """Drive a run: mark it running and fan its deliveries out as chunk tasks.

    Called without run_id (a cron job or a script), it starts the run for the month itself,
    defaulting to the last full month.
    """
    if run_id is None:
        month = Month.parse(month_year) if month_year else Month.last_full()
        try:
            run = launch.start_all(
                ctx.session,
                month,
                mail_from=ctx.settings.MAIL_FROM,
                skip_empty=ctx.settings.SKIP_EMPTY_REPORTS,
            )
        except (launch.RunConflict, launch.NothingToSend, MonthNotOver) as exc:
            log.info("process_all_reports: %s", exc)  # nothing written: a retry is refused too
            going = getattr(exc, "run", None)
            return {"message": str(exc), "task_id": going.task_id if going else None}
        run_id = run.id
    chunks = sending.begin_run(ctx, run_id, ctx.settings.REPORT_CHUNK_SIZE)
    enqueue.chunks(run_id, chunks)
    log.info("run %s: %d chunk(s) enqueued", run_id, len(chunks))
    return {"run_id": run_id, "chunks": len(chunks)}


@job()
def send_report_chunk(ctx: Context, run_id: int, delivery_ids: list[int]):
    """Build and mail the reports of one chunk; schedule transient failures for later."""
    outcome = sending.send_chunk(ctx, run_id, delivery_ids)
    if outcome.retry_ids:
        enqueue.retry_later(run_id, outcome.retry_ids, outcome.retry_delay)
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


@job()
def generate_and_send_user_report(
    ctx: Context, user_id: int, month_year: str, run_id: int | None = None
):
    """Generate and mail one learner's report; without run_id it starts that run itself."""
    if run_id is None:
        run = launch.start_one(
            ctx.session, Month.parse(month_year), int(user_id), mail_from=ctx.settings.MAIL_FROM
        )
        run_id = run.id
    chunks = sending.begin_run(ctx, run_id, 1)
    outcome = sending.send_chunk(ctx, run_id, chunks[0] if chunks else [])
    if outcome.retry_ids:
        enqueue.retry_later(run_id, outcome.retry_ids, outcome.retry_delay)
    return {"run_id": run_id, "sent": outcome.sent, "failed": outcome.failed}


@job(retries=0)
def generate_user_report(ctx: Context, user_id: int, month_year: str) -> str | None:
    """Render one learner's report and return its HTML (nothing is mailed)."""
    report = build_report(ctx.session, int(user_id), Month.parse(month_year))
    return render_report(report, letter_for(ctx.settings)).html if report else None


@job(retries=0)
def send_report_email(ctx: Context, user_id: int, month_year: str, html_content: str):
    """Mail the given HTML as the learner's report for the month (the seed's low-level task).

    The plain-text part comes from the learner's own report; the send is recorded in the
    ledger like any other, so the learner is not mailed again by a later run.
    """
    run = launch.start_one(
        ctx.session, Month.parse(month_year), int(user_id), mail_from=ctx.settings.MAIL_FROM
    )
    chunks = sending.begin_run(ctx, run.id, 1)
    outcome = sending.send_chunk(
        ctx, run.id, chunks[0] if chunks else [], html_override=html_content
    )
    return {"run_id": run.id, "sent": outcome.sent, "failed": outcome.failed}


@job(retries=0, periodic=crontab(minute="7"))
def monthly_run(ctx: Context):
    """Start the last full month's run once it is due (MONTHLY_RUN, _DAY, _HOUR)."""
    run = schedule.start_due(ctx)
    if run is None:
        return None
    enqueue.run(run)
    return run.task_id


@job(retries=0, periodic=crontab(minute="37"))
def refresh_statistics(ctx: Context):
    """Hourly, the query planner's statistics (SQLite keeps none unless asked)."""
    database.refresh_statistics(ctx.session.connection())
    ctx.session.commit()


@job(retries=0, periodic=crontab(minute="47"))
def keep_class_month(ctx: Context):
    """Hourly, the last full month's class figures worked out ahead, so that the first visit
    of the Class month page reads them instead of waiting about a second at 10,000 learners
    (they are worked out again only when attempts arrived since)."""
    teaching_store.for_month(ctx.session, ctx.store, Month.last_full())


@job(retries=0, periodic=crontab(minute="23"))
def purge_mailed_copies(ctx: Context):
    """Hourly, a bounded share of removing mailed copies older than MESSAGE_RETENTION_DAYS."""
    done = retention.purge_due(ctx)
    days = ctx.settings.MESSAGE_RETENTION_DAYS
    log.info("retention: mailed copies older than %d days removed: %d", days, done.purged)
    return done.purged


@job(retries=0)
def reap_now(ctx: Context):
    """Give expired leases back, close finished runs and drive stalled ones again."""
    reaped = reaper.reap(ctx)
    for run in reaped.stalled:
        enqueue.run(run)
    return reaped.figures()


@huey.periodic_task(crontab(minute="*"))
def reap():
    """Every minute, and again half a minute later: recover work Huey lost."""
    if first_in_slot("reap"):
        reap_now.call_local()
        enqueue.reap_later(30)


@huey.on_startup()
def _logs_at_start():
    # Runs in the consumer only (never in a web process or a test that imports tasks): the
    # app's own records, and Huey's, go out in one format.
    logs.configure(SETTINGS, take_over_huey=True)


def _this_consumer() -> workers.Consumer:
    """This consumer process as its command line (read with Huey's own parser) describes it."""
    options, _args = OptionParserHandler().get_option_parser().parse_args(sys.argv[1:])
    return workers.Consumer(
        host=socket.gethostname()[:80],
        pid=os.getpid(),
        worker_type=options.worker_type or "thread",
        workers=options.workers or 1,
        periodic=options.periodic is not False,
        started_at=utcnow(),
    )


@huey.on_startup()
def _beat_at_start():
    # Every worker of a consumer calls this hook; the first of each process starts its beat.
    global _heartbeat
    sessions = runtime().session
    with _runtime_lock:
        if _heartbeat is None or _heartbeat.consumer.pid != os.getpid():
            _heartbeat = workers.Heartbeat(sessions, _this_consumer(), _take_back_from_silent)
            deliveries.claims_held_by(_heartbeat.consumer.key)
            _heartbeat.start()


def _take_back_from_silent() -> None:
    # After each beat (every 10 s): a consumer that stopped beating is dead or cut off; its
    # claims and runs come back now, not when their leases run out minutes later.
    with fresh_context() as ctx:
        taken = reaper.take_back(ctx)
    for run in taken.stalled:
        enqueue.run(run)


@huey.on_shutdown()
def _beat_no_more():
    if _heartbeat is not None and _heartbeat.consumer.pid == os.getpid():
        _heartbeat.stop()


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
    try:
        with fresh_context() as ctx:
            released = deliveries.release_held(ctx.session)
        log.warning("interrupted %s: %d claim(s) released; task requeued", task.name, released)
    finally:
        enqueue.again(task)


enqueue.bind(
    huey,
    drive_run=process_all_reports,
    drive_one=generate_and_send_user_report,
    send_chunk=send_report_chunk,
    reap=reap_now,
)
