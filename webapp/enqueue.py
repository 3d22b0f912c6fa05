"""Ringing the queue's bell for a committed run, from the API and the dashboard alike."""

from flask import current_app

from webapp.core import progress
from webapp.core.models import ReportRun
from webapp.infra.database import db_session


def enqueue(run: ReportRun) -> bool:
    """Enqueue the task that drives a new, resumed or retried run; False if the queue is down.

    The run and its deliveries are committed first, so if the queue is unreachable now the
    reaper drives the run from the ledger once it is back: the caller still answers 202.
    """
    import tasks

    progress.refresh(db_session, run)
    try:
        if run.scope == "user" and run.state == "queued":
            tasks.generate_and_send_user_report(run.user_id, run.month, run.id)
        else:
            # For a run that is running again (resume, retry) this fans out its pending work.
            tasks.process_all_reports(run.month, run.id)
    except Exception:  # noqa: BLE001
        current_app.logger.exception("Could not enqueue run %s; the reaper will drive it", run.id)
        return False
    finally:
        db_session.expire_all()
    return True
