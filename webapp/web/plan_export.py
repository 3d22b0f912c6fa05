"""A dry run's list as CSV: who a start would mail and who it would skip, and why.

A GET link of the dry run's result, with its month, scope and learner in the query: the plan
is worked out again when the file is asked for (it changes nothing), so the file says what a
start would do at the moment it is downloaded.
"""

from itertools import chain

from flask import Blueprint
from flask import abort
from flask import request

from webapp.core import launch
from webapp.core.learners import find_learners
from webapp.web.access import require_staff
from webapp.web.csv_export import csv_response
from webapp.web.forms import StartRunForm
from webapp.web.services import db_session
from webapp.web.services import settings

bp = Blueprint("plan_export", __name__)
bp.before_request(require_staff)

HEADER = ("learner_id", "name", "email", "outcome", "reason")


@bp.get("/runs/dry-run.csv")
def dry_run_csv():
    """The dry run of the month (all learners, or one) as a CSV download."""
    # Read from the query, so no CSRF token (a GET changes nothing); the subject and intro
    # do not change who is mailed and are not asked for.
    form = StartRunForm(formdata=request.args, meta={"csrf": False})
    if not form.validate():
        problems = [error for errors in form.errors.values() for error in errors]
        abort(400, "The list could not be made: " + " ".join(problems))
    user_id = None
    if form.scope.data == "one":
        matches = find_learners(db_session, form.learner.data, limit=2)
        if len(matches) != 1:
            abort(400, "The list could not be made: no single learner has that name or email.")
        user_id = matches[0].id
    month = form.month_value
    plan = launch.plan(db_session, month, user_id=user_id, skip_empty=settings().SKIP_EMPTY_REPORTS)
    rows = chain(
        ((uid, name, email, "would send", "") for uid, name, email in plan.to_send),
        (
            (uid, name, plan.skipped_emails.get(uid), "skipped", reason)
            for uid, name, reason in plan.skipped
        ),
    )
    suffix = f"-learner-{user_id}" if user_id is not None else ""
    return csv_response(f"dry-run-{month}{suffix}.csv", HEADER, rows)
