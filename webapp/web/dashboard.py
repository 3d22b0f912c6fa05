"""Overview: recent runs, and the form that starts a run (or shows a dry run first)."""

from flask import Blueprint
from flask import redirect
from flask import request
from flask import url_for

from webapp.core import accounts
from webapp.core import launch
from webapp.core import letters
from webapp.core import month_standing
from webapp.core import progress
from webapp.core.learners import find_learners
from webapp.core.models import ReportRun
from webapp.core.months import Month
from webapp.core.months import MonthNotOver
from webapp.web import chart_views
from webapp.web.access import require_staff
from webapp.web.confirm import before_start
from webapp.web.errors import conflict_response
from webapp.web.forms import StartRunForm
from webapp.web.htmx import is_htmx
from webapp.web.htmx import redirect_page
from webapp.web.htmx import render
from webapp.web.services import db_session
from webapp.web.services import launch_all
from webapp.web.services import launch_one
from webapp.web.services import ring
from webapp.web.services import settings
from webapp.web.services import store

bp = Blueprint("dashboard", __name__)
bp.before_request(require_staff)

RECENT_RUNS = 20
# A dry run of 10,000 learners lists this many names of each kind, then counts the rest.
PLAN_LIST_LIMIT = 100


def run_rows(recent: list[ReportRun]) -> list[dict]:
    """Each run with its counts, who started it and, for one-learner runs, who it mails."""
    people = accounts.by_ids(
        db_session, [r.started_by_id for r in recent] + [r.user_id for r in recent]
    )
    rows = []
    for run in recent:
        snap = progress.current(store(), db_session, run)
        rows.append(
            {
                "run": run,
                "snap": snap,
                "counts": snap.counts,
                # Over what was attempted only: None when nothing was (the row says so).
                "success_rate": snap.success_percent,
                "attempted": snap.attempted,
                "started_by": people.get(run.started_by_id),
                "learner": people.get(run.user_id),
            }
        )
    return rows


def _overview_context(form: StartRunForm | None = None, **extra) -> dict:
    if form is None:
        # A confirmation's "Go back" link fills the form in again from its query.
        form = StartRunForm(formdata=request.args or None)
        form.month.data = form.month.data or str(Month.last_full())
    rows = run_rows(progress.recent_runs(db_session, limit=RECENT_RUNS))
    # The subject box shows the default for the month picked (the last full one until a
    # valid month was posted); without JavaScript it cannot follow the month as it changes.
    month = getattr(form, "month_value", None) or Month.last_full()
    return {
        "form": form,
        "default_subject": letters.subject_for(month, None),
        "rows": rows,
        "any_open": any(row["run"].is_open for row in rows),
        "max_month": str(Month.current()),
        # The page's own section: htmx swaps only the start form or the runs table.
        "standing": [] if is_htmx() else month_standing.recent(db_session),
        # Only the whole page shows it: htmx asks again for the runs table alone.
        "month_chart": None if is_htmx() else chart_views.months_chart(db_session),
        **extra,
    }


@bp.get("/")
def overview():
    """Recent runs and the start form; htmx polls the runs table while a run is open."""
    return render("dashboard/overview.html", "dashboard/_runs.html", **_overview_context())


def _start_response(form: StartRunForm, status: int, **extra):
    context = _overview_context(form, **extra)
    return render("dashboard/overview.html", "dashboard/_start.html", status, **context)


def _plan_view(plan: launch.Plan, wording: letters.RunWording) -> dict:
    return {
        "month": plan.month,
        "subject": letters.subject_for(plan.month, wording.subject),
        "default_subject": wording.subject is None,
        "intro": wording.intro,
        "to_send": plan.to_send[:PLAN_LIST_LIMIT],
        "to_send_count": len(plan.to_send),
        "skipped": plan.skipped[:PLAN_LIST_LIMIT],
        "skipped_count": len(plan.skipped),
        "reasons": plan.tally.most_common(),
        "limit": PLAN_LIST_LIMIT,
        "warnings": plan.warnings(),
    }


@bp.post("/runs")
def start():
    """Start a run for the month (all learners or one), or show its dry run."""
    form = StartRunForm()
    if not form.validate_on_submit():
        return _start_response(form, 422)
    learner = None
    if form.scope.data == "one":
        matches = find_learners(db_session, form.learner.data, limit=6)
        if len(matches) != 1:
            if not matches:
                form.learner.errors.append("No learner has that name or email.")
            else:
                names = "; ".join(
                    f"{u.display_name} <{u.email or 'no email'}>" for u in matches[:5]
                )
                form.learner.errors.append(
                    f"Several learners match: {names}. Type the full email address."
                )
            return _start_response(form, 422)
        learner = matches[0]
    month = form.month_value
    config = settings()
    if form.dry_run.data:
        plan = launch.plan(
            db_session,
            month,
            user_id=learner.id if learner else None,
            skip_empty=config.SKIP_EMPTY_REPORTS,
        )
        plan_view = _plan_view(plan, form.wording)
        return _start_response(form, 200, plan=plan_view, plan_learner=learner)
    try:
        if (question := before_start(form, month, learner)) is not None:
            return question  # asked first; the answer posts the same form, confirmed
        if learner is None:
            run = launch_all(month, form.wording)
        else:
            run = launch_one(month, learner.id, form.wording)
    except launch.RunConflict as exc:
        return conflict_response(exc)
    except MonthNotOver as exc:
        form.month.errors.append(str(exc))
        return _start_response(form, 422)
    except launch.NothingToSend as exc:
        # Not a mistake in the form: the month is complete, and no run was written.
        return _start_response(form, 200, nothing_to_send=exc.message)
    except (launch.NoEmailAddress, launch.LearnerSuppressed) as exc:
        form.learner.errors.append(str(exc))
        return _start_response(form, 422)
    ring(run)
    target = url_for("run_page.show", run_id=run.id)
    return redirect_page(target) if is_htmx() else redirect(target, code=303)
