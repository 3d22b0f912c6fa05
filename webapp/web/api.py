"""The /scheduled JSON API of the original design, kept compatible; Bearer-token admins only."""

import re

from flask import Blueprint
from flask import current_app
from flask import g
from flask import jsonify
from flask import request
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import BadRequest
from werkzeug.exceptions import Forbidden
from werkzeug.exceptions import NotFound
from werkzeug.exceptions import Unauthorized
from werkzeug.exceptions import UnsupportedMediaType

from webapp.core import progress
from webapp.core import runs
from webapp.core.models import ReportRun
from webapp.core.months import Month
from webapp.core.months import MonthError
from webapp.core.report.builder import build_report
from webapp.core.tokens import user_for_token
from webapp.enqueue import enqueue
from webapp.infra.database import db_session
from webapp.infra.queue import huey
from webapp.web.extensions import csrf

bp = Blueprint("api", __name__, url_prefix="/scheduled")
# Bearer tokens are not sent by browsers on their own, so CSRF cannot reach these views;
# cookies are never accepted here.
csrf.exempt(bp)

_TASK_ID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
SEED_STATES = {
    "queued": "PENDING",
    "running": "PROGRESS",
    "paused": "PROGRESS",
    "done": "SUCCESS",
    "cancelled": "FAILURE",
    "failed": "FAILURE",
}


class ConflictError(Exception):
    """A 409 that carries the task_id of the run that is still going."""


def _unauthorized(message: str, error: str | None = None) -> Unauthorized:
    params = {"realm": "quiz-reports"}
    if error:
        params["error"] = error
    return Unauthorized(message, www_authenticate=WWWAuthenticate("Bearer", params))


@bp.before_request
def require_admin_token():
    """Deny by default: every route here needs an admin's Bearer token."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise _unauthorized("Send an API token: Authorization: Bearer <token>.")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized(
            "Use the Bearer scheme: Authorization: Bearer <token>.", "invalid_request"
        )
    user = user_for_token(db_session, token.strip())
    if user is None:
        raise _unauthorized("The API token is not valid, or was revoked.", "invalid_token")
    if not user.is_admin:
        raise Forbidden("Only admins may use this API.")
    g.api_user = user


def _json_body() -> dict:
    if not request.is_json:
        raise UnsupportedMediaType("Send a JSON body with Content-Type: application/json.")
    data = request.get_json(silent=True)
    if data is None:
        raise BadRequest("The request body is not valid JSON.")
    if not isinstance(data, dict):
        raise BadRequest('The JSON body must be an object, e.g. {"month_year": "2024-12"}.')
    return data


def _month(value) -> Month:
    try:
        return Month.parse(value)
    except MonthError as exc:
        raise BadRequest(str(exc)) from None


def _user_id(value) -> int:
    if value is None or value == "":
        raise BadRequest("user_id is required: the id of a learner, e.g. 42.")
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise BadRequest("user_id must be a whole number, e.g. 42.")
    if isinstance(value, str):
        if not re.fullmatch(r"\d{1,18}", value.strip()):
            raise BadRequest(f"user_id {value!r} is not a whole number.")
        value = int(value.strip())
    if value <= 0 or value >= 2**63:
        raise BadRequest(f"user_id {value} is out of range: learner ids are positive.")
    return value


def _conflict(exc: runs.RunConflict):
    body = {"error": "Conflict", "message": exc.message}
    if exc.run is not None:
        body.update(task_id=exc.run.task_id, month_year=exc.run.month, state=exc.run.state)
    return jsonify(body), 409


@bp.post("/generate-all-monthly-reports")
def generate_all_monthly_reports():
    """Start the month's run for every learner who has no sent report yet."""
    data = _json_body()
    month = _month(data.get("month_year"))
    config = current_app.config
    dry_run = data.get("dry_run", False)
    if not isinstance(dry_run, bool):
        # A string "true" must not start a real run by mistake.
        raise BadRequest("dry_run must be true or false.")
    if dry_run:
        plan = runs.plan(db_session, month, skip_empty=config["SKIP_EMPTY_REPORTS"])
        return jsonify(
            {
                "month_year": str(month),
                "to_send": [{"user_id": u, "name": n, "email": e} for u, n, e in plan.to_send],
                "skipped": [{"user_id": u, "name": n, "reason": r} for u, n, r in plan.skipped],
            }
        )
    try:
        run = runs.start_all(
            db_session,
            month,
            started_by_id=g.api_user.id,
            mail_from=config["MAIL_FROM"],
            skip_empty=config["SKIP_EMPTY_REPORTS"],
        )
    except runs.RunConflict as exc:
        return _conflict(exc)
    enqueue(run)
    return jsonify(
        {
            "message": f"Reports for {month.label} started: {run.total} learner(s) to mail.",
            "task_id": run.task_id,
            "month_year": str(month),
            "status": "PENDING",
            "total": run.total,
        }
    ), 202


@bp.post("/generate-user-report")
def generate_user_report():
    """Generate and mail one learner's report (an explicit resend when sent already)."""
    data = _json_body()
    user_id = _user_id(data.get("user_id"))
    month = _month(data.get("month_year"))
    try:
        run = runs.start_one(
            db_session,
            month,
            user_id,
            started_by_id=g.api_user.id,
            mail_from=current_app.config["MAIL_FROM"],
        )
    except runs.LearnerNotFound as exc:
        raise NotFound(str(exc)) from None
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    except runs.RunConflict as exc:
        return _conflict(exc)
    enqueue(run)
    return jsonify(
        {
            "message": f"Report for {month.label} is being generated and mailed.",
            "task_id": run.task_id,
            "user_id": user_id,
            "month_year": str(month),
            "status": "PENDING",
        }
    ), 202


def _status_words(snap: dict) -> str:
    state, done, total = snap["state"], snap["done"], snap["total"]
    if state == "queued":
        return "Waiting for a worker."
    if state == "running":
        return f"Sending reports: {done} of {total} done."
    if state == "paused":
        return f"Paused: {snap.get('pause_reason') or 'by an admin'} ({done} of {total} done)."
    if state == "cancelled":
        return f"Cancelled after {done - snap['counts']['cancelled']} of {total}."
    return (
        f"Completed: {snap['sent']} sent, {snap['failed']} failed, "
        f"{snap['counts']['skipped']} skipped, {snap['counts']['unknown']} unknown."
    )


@bp.get("/task-status/<task_id>")
def task_status(task_id: str):
    """The run's state from its progress snapshot; repeated polls give the same answer."""
    if not _TASK_ID_RE.match(task_id):
        raise NotFound(f"No task with id {task_id!r}.")
    snap = progress.read(task_id)
    finished = snap is not None and snap["state"] not in ("queued", "running", "paused")
    if snap is None or (finished and "results" not in snap):
        run = db_session.query(ReportRun).filter_by(task_id=task_id).one_or_none()
        if run is None:
            raise NotFound(f"No task with id {task_id!r}.")
        snap = progress.refresh(db_session, run, with_results=not run.is_open)
    state = SEED_STATES[snap["state"]]
    result = None
    if state in ("SUCCESS", "FAILURE"):
        result = {
            "message": _status_words(snap),
            "summary": {
                "total_users": snap["total"],
                "successful": snap["sent"],
                "failed": snap["failed"],
                "skipped": snap["counts"]["skipped"],
                "unknown": snap["counts"]["unknown"],
                "success_rate": snap["success_rate"],
            },
            "results": snap.get("results", []),
            "month_year": snap["month_year"],
        }
    return jsonify(
        {
            "task_id": task_id,
            "state": state,
            "run_state": snap["state"],
            "current": snap["done"],
            "total": snap["total"] if snap["total"] or state != "PENDING" else 1,
            "status": _status_words(snap),
            "counts": snap["counts"],
            "pause_reason": snap.get("pause_reason"),
            "result": result,
        }
    )


@bp.get("/report-summary")
def report_summary():
    """Recent runs with their counts, and how much work the queue holds."""
    limit = request.args.get("limit", "20")
    if not limit.isdigit() or not 1 <= int(limit) <= 200:
        raise BadRequest("limit must be a whole number from 1 to 200.")
    recent = runs.recent_runs(db_session, limit=int(limit))
    items = []
    for run in recent:
        counts = (
            progress.ledger_counts(db_session, run.id)
            if run.is_open
            else {
                "sent": run.sent,
                "failed": run.failed,
                "skipped": run.skipped,
                "unknown": run.unknown,
                "cancelled": run.cancelled,
            }
        )
        items.append(
            {
                "task_id": run.task_id,
                "month_year": run.month,
                "scope": run.scope,
                "user_id": run.user_id,
                "state": SEED_STATES[run.state],
                "run_state": run.state,
                "total": sum(counts.values()) if run.is_open else run.total,
                "sent": counts["sent"],
                "failed": counts["failed"],
                "skipped": counts["skipped"],
                "unknown": counts["unknown"],
                "created_at": run.created_at.isoformat(),
                "finished_at": run.finished_at.isoformat() if run.finished_at else None,
            }
        )
    return jsonify(
        {
            "message": f"{len(items)} recent run(s).",
            "runs": items,
            "active_tasks": runs.open_runs_count(db_session),
            "reserved_tasks": huey.pending_count(),
            "scheduled_tasks": huey.scheduled_count(),
            "note": "active_tasks: runs still going; reserved_tasks: tasks waiting in the queue.",
        }
    )


@bp.get("/report-data")
def report_data():
    """The report of one learner for one month, as JSON: exactly what the email shows."""
    user_id = _user_id(request.args.get("user_id"))
    month = _month(request.args.get("month_year"))
    report = build_report(db_session, user_id, month)
    if report is None:
        raise NotFound(f"No learner with id {user_id}.")
    return jsonify(report)
