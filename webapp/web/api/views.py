"""The /scheduled JSON API of the original design, kept compatible; Bearer tokens, which act
with their owner's role: a viewer's reads, an operator's or an admin's also starts runs."""

import re

from flask import Blueprint
from flask import g
from flask import jsonify
from flask import request
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import BadRequest
from werkzeug.exceptions import Forbidden
from werkzeug.exceptions import NotFound
from werkzeug.exceptions import Unauthorized
from werkzeug.exceptions import UnsupportedMediaType

from webapp import enqueue
from webapp.core import launch
from webapp.core import letters
from webapp.core import progress
from webapp.core import staff
from webapp.core.lifecycle.runs import ledger_counts
from webapp.core.months import Month
from webapp.core.months import MonthError
from webapp.core.months import MonthNotOver
from webapp.core.report.builder import build_report
from webapp.core.states import Role
from webapp.core.tokens import user_for_token
from webapp.core.words import plural
from webapp.web import inputs
from webapp.web.access import SAFE_METHODS
from webapp.web.api import serializers
from webapp.web.extensions import csrf
from webapp.web.services import db_session
from webapp.web.services import launch_all
from webapp.web.services import launch_one
from webapp.web.services import ring
from webapp.web.services import settings
from webapp.web.services import store

bp = Blueprint("api", __name__, url_prefix="/scheduled")
# Bearer tokens are not sent by browsers on their own, so CSRF cannot reach these views;
# cookies are never accepted here.
csrf.exempt(bp)

_TASK_ID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _unauthorized(message: str, error: str | None = None) -> Unauthorized:
    params = {"realm": "quiz-reports"}
    if error:
        params["error"] = error
    return Unauthorized(message, www_authenticate=WWWAuthenticate("Bearer", params))


NOT_STAFF = "Only staff accounts (viewers, operators and admins) may use this API."
DISABLED = "This token's account is disabled; an admin can enable it again."


@bp.before_request
def require_token():
    """Deny by default: every route here needs the Bearer token of an enabled staff account;
    reading needs a viewer's or above, a start (any other method) an operator's or above."""
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
    # Read afresh on every call: a demotion or a disabled account counts at once.
    account = staff.standing(db_session, user)
    if account.role is None:
        raise Forbidden(NOT_STAFF)
    if account.disabled:
        raise Forbidden(DISABLED)
    if request.method not in SAFE_METHODS and not account.role.at_least(Role.OPERATOR):
        raise Forbidden(
            f"This token acts as a {account.role}, who may read but not start runs: "
            "starting needs an operator's or an admin's token."
        )
    g.api_user = user


def _json_body() -> dict:
    if not request.is_json:
        raise UnsupportedMediaType("Send a JSON body with Content-Type: application/json.")
    data = inputs.json_body()
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
    user_id = inputs.whole_number(value, 1, inputs.LARGEST_ID)
    if user_id is None:
        raise BadRequest(
            f"user_id {value!r} is not a learner id: a whole number from 1 to {inputs.LARGEST_ID}."
        )
    return user_id


def _wording(data: dict) -> letters.RunWording:
    # Optional: a run without them mails the default subject and no intro.
    try:
        return letters.clean(data.get("subject"), data.get("intro"))
    except letters.LetterError as exc:
        raise BadRequest(exc.message) from None


def _conflict(exc: launch.RunConflict):
    body = {"error": "Conflict", "message": exc.message}
    if exc.run is not None:
        body.update(task_id=exc.run.task_id, month_year=exc.run.month, state=exc.run.state)
    return jsonify(body), 409


@bp.post("/generate-all-monthly-reports")
def generate_all_monthly_reports():
    """Start the month's run for every learner who has no sent report yet."""
    data = _json_body()
    month = _month(data.get("month_year"))
    dry_run = data.get("dry_run", False)
    if not isinstance(dry_run, bool):
        # A string "true" must not start a real run by mistake.
        raise BadRequest("dry_run must be true or false.")
    # Checked on a dry run too: it answers what a start with this body would do.
    wording = _wording(data)
    if dry_run:
        plan = launch.plan(db_session, month, skip_empty=settings().SKIP_EMPTY_REPORTS)
        return jsonify(serializers.plan_json(plan))
    try:
        run = launch_all(month, wording)
    except launch.RunConflict as exc:
        return _conflict(exc)
    except MonthNotOver as exc:
        raise BadRequest(str(exc)) from None
    except launch.NothingToSend as exc:
        # 200, not 202: nothing was accepted, and no run exists to poll (task_id is null).
        return jsonify(serializers.nothing_to_send_json(exc.plan))
    ring(run)
    message = f"Reports for {month.label} started: {plural(run.total, 'learner')} to mail."
    return jsonify(serializers.started_json(run, message, total=run.total)), 202


@bp.post("/generate-user-report")
def generate_user_report():
    """Generate and mail one learner's report (an explicit resend when sent already)."""
    data = _json_body()
    user_id = _user_id(data.get("user_id"))
    month = _month(data.get("month_year"))
    wording = _wording(data)
    try:
        run = launch_one(month, user_id, wording)
    except launch.LearnerNotFound as exc:
        raise NotFound(str(exc)) from None
    except (launch.NoEmailAddress, MonthNotOver) as exc:
        raise BadRequest(str(exc)) from None
    except launch.LearnerSuppressed as exc:
        # The learner's state forbids it, not the request's form: a conflict, in words.
        return jsonify({"error": "Conflict", "message": str(exc)}), 409
    except launch.RunConflict as exc:
        return _conflict(exc)
    ring(run)
    message = f"Report for {month.label} is being generated and mailed."
    return jsonify(serializers.started_json(run, message, user_id=user_id)), 202


@bp.get("/task-status/<task_id>")
def task_status(task_id: str):
    """The run's state from its progress snapshot; repeated polls give the same answer."""
    if not _TASK_ID_RE.match(task_id):
        raise NotFound(f"No task with id {task_id!r}.")
    snap = progress.read(store(), task_id)
    if snap is None or (not snap.is_open and snap.results is None):
        run = progress.run_by_task_id(db_session, task_id)
        if run is None:
            raise NotFound(f"No task with id {task_id!r}.")
        snap = progress.publish(store(), db_session, run, with_results=not run.is_open)
    return jsonify(serializers.task_status_json(task_id, snap))


@bp.get("/report-summary")
def report_summary():
    """Recent runs with their counts, and how much work the queue holds."""
    limit = inputs.query_number("limit", 20, 1, 200)
    recent = progress.recent_runs(db_session, limit=limit)
    items = [
        serializers.run_summary_json(
            run, ledger_counts(db_session, run.id) if run.is_open else None
        )
        for run in recent
    ]
    reserved, scheduled = enqueue.waiting()
    return jsonify(
        {
            "message": f"{plural(len(items), 'recent run')}.",
            "runs": items,
            "active_tasks": progress.open_runs_count(db_session),
            "reserved_tasks": reserved,
            "scheduled_tasks": scheduled,
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
    return jsonify(serializers.report_json(report))
