"""Health for load balancers and orchestrators, without signing in and without secrets.

GET /healthz: the process answers (nothing else is asked).
GET /readyz: the database, the queue's store, the workers' heartbeats and the backlog;
200 when the product can do its work, 503 with what failed named otherwise.
"""

import logging

from flask import Blueprint
from flask import jsonify

from webapp.core import readiness
from webapp.core import workers
from webapp.web.services import db_session
from webapp.web.services import store

log = logging.getLogger(__name__)

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """The process is alive."""
    return jsonify({"status": "ok"})


def _answers(checks: dict, name: str, failure: str, probe) -> bool:
    """Run probe(); record under `name` whether it answered (`failure` in words if not)."""
    try:
        probe()
    except Exception:  # noqa: BLE001  (a driver's words may name hosts and users: logged only)
        log.warning("readiness: %s", failure, exc_info=True)
        checks[name] = {"ok": False, "error": failure}
        return False
    checks[name] = {"ok": True}
    return True


@bp.get("/readyz")
def readyz():
    """Can the product do its work now? JSON with a line per check."""
    checks: dict = {}
    database_up = _answers(
        checks,
        "database",
        "the database does not answer",
        lambda: readiness.database_answers(db_session),
    )
    _answers(checks, "queue", "the queue's store does not answer", lambda: store().get("readyz"))
    if database_up:
        age = workers.newest_beat_age(db_session)
        waiting = readiness.runs_waiting(db_session)
        checks["workers"] = {
            "ok": workers.alive_at(age) or not waiting,
            "newest_heartbeat_seconds": None if age is None else round(age, 1),
            "runs_waiting": waiting,
        }
        if not checks["workers"]["ok"]:
            checks["workers"]["error"] = "no worker is running while runs wait"
        oldest = readiness.oldest_due_seconds(db_session)
        checks["backlog"] = {"ok": True, "oldest_due_seconds": oldest}
    db_session.rollback()
    ready = all(check["ok"] for check in checks.values())
    body = {"status": "ready" if ready else "not ready", "checks": checks}
    return jsonify(body), 200 if ready else 503
