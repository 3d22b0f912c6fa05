"""What views hand to the core: the request's database session, the app's settings and its
runtime (key-value store, rate limiter); starting runs as this request's actor, and ringing
the queue for them."""

from flask import Flask
from flask import current_app
from flask import g
from sqlalchemy.orm import Session
from werkzeug.local import LocalProxy

from webapp import enqueue
from webapp.core import launch
from webapp.core import progress
from webapp.core.audit import AuditAction
from webapp.core.audit import record
from webapp.core.letters import RunWording
from webapp.core.models import ReportRun
from webapp.core.months import Month
from webapp.infra.kvstore import KeyValueStore
from webapp.infra.runtime import Runtime
from webapp.infra.settings import Settings
from webapp.web.actor import current_actor


def runtime() -> Runtime:
    """The current app's runtime."""
    return current_app.extensions["runtime"]


def settings() -> Settings:
    """The current app's settings."""
    return runtime().settings


def store() -> KeyValueStore:
    """The key-value store of progress snapshots."""
    return runtime().kv


def get_session() -> Session:
    """The session of the current app context, created on first use."""
    if "db_session" not in g:
        g.db_session = runtime().session()
    return g.db_session


db_session: Session = LocalProxy(get_session)  # type: ignore[assignment]
DEFAULT_WORDING = RunWording()


def _close_session(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


def launch_all(month: Month, wording: RunWording = DEFAULT_WORDING) -> ReportRun:
    """Start the month's run for every learner (launch.RunConflict if one is going), with
    the run's own subject and intro if given; started by this request's actor."""
    config = settings()
    return launch.start_all(
        db_session,
        month,
        actor=current_actor(),
        mail_from=config.MAIL_FROM,
        skip_empty=config.SKIP_EMPTY_REPORTS,
        subject=wording.subject,
        intro=wording.intro,
    )


def launch_one(month: Month, user_id: int, wording: RunWording = DEFAULT_WORDING) -> ReportRun:
    """Start a run that mails one learner's report (a resend when it was sent already)."""
    return launch.start_one(
        db_session,
        month,
        user_id,
        actor=current_actor(),
        mail_from=settings().MAIL_FROM,
        subject=wording.subject,
        intro=wording.intro,
    )


def audit_only(action: AuditAction, target: str, detail: str = "") -> None:
    """Record an action that changes nothing in the database (a test send) and commit it:
    the one place such an action is written to the trail."""
    record(db_session, current_actor(), action, target, detail)
    db_session.commit()


def ring(run: ReportRun) -> bool:
    """Publish a committed run's first snapshot and enqueue it; False if the queue is down.

    The run stands in the ledger either way: the reaper drives it once the queue is back.
    """
    progress.publish(store(), db_session, run)
    try:
        return enqueue.run(run)
    finally:
        # With an immediate queue (tests) the task ran here, in a session of its own.
        db_session.expire_all()


def init_app(app: Flask, app_runtime: Runtime) -> None:
    """Give the app its runtime and close each context's session at teardown."""
    app.extensions["runtime"] = app_runtime
    app.teardown_appcontext(_close_session)
