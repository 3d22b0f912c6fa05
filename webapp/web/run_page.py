"""The run page: live progress (htmx polling that stops by itself), deliveries, actions."""

from datetime import datetime

from flask import Blueprint
from flask import abort
from flask import flash
from flask import make_response
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for

from webapp.core import accounts
from webapp.core import actions
from webapp.core import launch
from webapp.core import letters
from webapp.core import progress
from webapp.core import run_listing
from webapp.core import workers
from webapp.core.models import Delivery
from webapp.core.models import ReportRun
from webapp.core.models import User
from webapp.core.months import Month
from webapp.core.months import MonthNotOver
from webapp.core.states import DELIVERY_STATES
from webapp.core.states import RUN_ACTIVE
from webapp.core.states import DeliveryState
from webapp.core.states import RunState
from webapp.core.words import plural
from webapp.web import chart_views
from webapp.web.access import back_to
from webapp.web.access import require_staff
from webapp.web.access import safe_next
from webapp.web.actor import current_actor
from webapp.web.confirm import before_cancel
from webapp.web.confirm import before_retry
from webapp.web.csv_export import csv_response
from webapp.web.errors import conflict_response
from webapp.web.errors import error_page
from webapp.web.errors import found_or_404
from webapp.web.errors import refusal_response
from webapp.web.forms import ActionForm
from webapp.web.forms import ConfirmForm
from webapp.web.htmx import is_htmx
from webapp.web.inputs import MAX_PAGE
from webapp.web.inputs import query_number
from webapp.web.services import db_session
from webapp.web.services import launch_one
from webapp.web.services import ring
from webapp.web.services import store

bp = Blueprint("run_page", __name__)
bp.before_request(require_staff)

PER_PAGE = 50
# A paused run with nothing in flight changes only when someone resumes or cancels it.
PAUSED_POLL = "5s"


def run_or_404(run_id: int) -> ReportRun:
    """The run with this id, or a 404 page."""
    return found_or_404(db_session.get(ReportRun, run_id), f"There is no run #{run_id}.")


def progress_context(run: ReportRun, notice: str = "", error: str = "") -> dict:
    """What the progress component needs, and how often it polls (None: it does not)."""
    snap = progress.current(store(), db_session, run, exact=True)
    return {
        "run": run,
        "snap": snap,
        # Said instead of waiting silently: a queued or running run and no live consumer.
        "no_worker": run.state in RUN_ACTIVE and not workers.any_alive(db_session),
        "silent_seconds": int(workers.SILENT_AFTER.total_seconds()),
        "poll_every": poll_every(snap),
        "seen": f"{snap.done}:{snap.state}",
        "action_form": ActionForm(formdata=None),
        "notice": notice,
        "error": error,
    }


def poll_every(snap: progress.Snapshot) -> str | None:
    """How often the card asks again: every second while reports are going out (a report
    in flight when the run was paused or cancelled still lands), every few seconds while
    paused (an operator elsewhere, or the API, may resume it), and never once the run has
    closed with nothing in flight: its final markup carries no trigger."""
    if snap.state in RUN_ACTIVE or snap.in_flight:
        return "1s"
    if snap.state == RunState.PAUSED:
        return PAUSED_POLL
    return None


def _filters() -> tuple[str, str, int]:
    """The list's state (unknown ones mean all), search text and page, from the query string;
    a search that cannot be looked for is a 400 in words."""
    state = request.args.get("state", "")
    state = state if state in DELIVERY_STATES else ""
    try:
        text = run_listing.search_text(request.args.get("q"))
    except run_listing.SearchTextError as exc:
        abort(400, str(exc))
    return state, text, query_number("page", 1, 1, MAX_PAGE)


def deliveries_context(
    run: ReportRun, state: str, text: str, page: int, snap: progress.Snapshot | None = None
) -> dict:
    """One page of the run's deliveries by state and search, with the counts for the chips;
    the counts from snap when it is exact."""
    found = run_listing.deliveries_of(db_session, run.id, state, text, page, PER_PAGE, snap)
    page = found.page.number
    return {
        "run": run,
        "rows": found.page.rows,
        "state": state,
        "q": text,
        "max_search": run_listing.MAX_SEARCH,
        "states": DELIVERY_STATES,
        "counts": found.counts,
        "all_count": found.all,
        "page": page,
        "pages": found.page.pages,
        "total": found.page.total,
        "row_form": ActionForm(formdata=None),
        "here": url_for(
            "run_page.show", run_id=run.id, state=state or None, q=text or None, page=page
        ),
        "export_url": url_for(
            "run_page.export", run_id=run.id, state=state or None, q=text or None
        ),
    }


def _people(run: ReportRun) -> dict:
    return accounts.by_ids(db_session, (run.started_by_id, run.user_id))


def _page(run: ReportRun, status: int = 200, **progress_extra):
    state, text, page = _filters()
    context = progress_context(run, **progress_extra)
    context |= deliveries_context(run, state, text, page, context["snap"])
    month = Month.parse(run.month, allow_future=True)
    subject = letters.subject_for(month, run.subject)
    # A closed run's snapshot was counted from the ledger just now (exact=True): reused.
    counts = None if run.is_open else context["snap"].counts
    context["run_charts"] = chart_views.run_page_charts(db_session, run, counts)
    body = render_template("run_page/show.html", people=_people(run), subject=subject, **context)
    return make_response(body, status)


@bp.get("/runs/<int:run_id>")
def show(run_id: int):
    """The run page; htmx asks for the list of deliveries alone (filters, search, pages)."""
    run = run_or_404(run_id)
    if is_htmx():
        state, text, page = _filters()
        context = deliveries_context(run, state, text, page)
        response = make_response(render_template("run_page/_delivery_list.html", **context))
    else:
        response = _page(run)
    response.vary.add("HX-Request")
    return response


# The columns of a run's CSV export, in order (see _export_cells).
EXPORT_HEADER = (
    "Learner id",
    "Name",
    "Email",
    "State",
    "Reason or last error",
    "SMTP code",
    "Send attempts",
    "Sent at (UTC)",
    "Message-ID",
)


def _utc(value: datetime | None) -> str | None:
    # The ledger keeps naive UTC; the file says so, as ISO 8601 with Z.
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def _export_cells(row) -> tuple:
    why = row.last_error or (row.reason if row.state != DeliveryState.SENT else None)
    name = row.full_name or row.username
    return (
        row.user_id,
        name,
        row.email,
        row.state,
        why,
        row.smtp_code,
        row.attempts,
        _utc(row.sent_at),
        row.message_id,
    )


@bp.get("/runs/<int:run_id>/deliveries.csv")
def export(run_id: int):
    """The run's deliveries as a CSV download: all of them, or the list's state and search."""
    run = run_or_404(run_id)
    state, text, _page_number = _filters()
    rows = run_listing.export_rows(db_session, run.id, state, text)
    cells = (_export_cells(row) for row in rows)
    return csv_response(f"run-{run.id}-deliveries.csv", EXPORT_HEADER, cells)


@bp.get("/runs/<int:run_id>/progress")
def progress_fragment(run_id: int):
    """The progress component; its final state carries no trigger, so polling stops."""
    run = run_or_404(run_id)
    if not is_htmx():
        return redirect(url_for("run_page.show", run_id=run.id))
    context = progress_context(run)
    response = make_response(render_template("run_page/_progress.html", **context))
    seen = request.args.get("seen")
    if seen and seen != context["seen"]:
        # Counts moved: the deliveries component listens for this and reloads its page.
        response.headers["HX-Trigger"] = "deliveries-changed"
    response.vary.add("HX-Request")
    return response


@bp.get("/runs/<int:run_id>/charts")
def charts_fragment(run_id: int):
    """The run's charts, drawn again for htmx when its counts move."""
    run = run_or_404(run_id)
    if not is_htmx():
        return redirect(url_for("run_page.show", run_id=run.id))
    context = {"run": run, "run_charts": chart_views.run_page_charts(db_session, run)}
    response = make_response(render_template("run_page/_charts.html", **context))
    response.vary.add("HX-Request")
    return response


def _action(run_id: int, do, ask=None) -> object:
    run = run_or_404(run_id)
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400, "The form could not be read; reload the page and try again.")
    # A mass action asks first (webapp/web/confirm.py): only its answer acts.
    if ask is not None and (question := ask(run, form.confirmed.data)) is not None:
        return question
    try:
        notice = do(run)
    except actions.RunStateError as exc:
        db_session.rollback()
        run = run_or_404(run_id)
        if is_htmx():
            body = render_template(
                "run_page/_progress.html", **progress_context(run, error=str(exc))
            )
            return make_response(body, 409)
        return error_page(
            409,
            "That action does not apply now",
            str(exc),
            link_url=url_for("run_page.show", run_id=run.id),
            link_text=f"Back to run #{run.id}",
        )
    db_session.expire_all()
    run = run_or_404(run_id)
    progress.publish(store(), db_session, run)
    if is_htmx():
        response = make_response(
            render_template("run_page/_progress.html", **progress_context(run, notice=notice))
        )
        response.headers["HX-Trigger"] = "deliveries-changed"
        return response
    flash(notice, "success")
    return redirect(url_for("run_page.show", run_id=run.id), code=303)


def _cancel(run: ReportRun) -> str:
    n = actions.cancel(db_session, run, current_actor())
    return f"Run cancelled: {plural(n, 'report')} will not be sent. Reports already sent stay sent."


def _pause(run: ReportRun) -> str:
    actions.pause(db_session, run, current_actor())
    return "Run paused: workers stop before their next email. Resume to continue."


def _resume(run: ReportRun) -> str:
    actions.resume(db_session, run, current_actor())
    ring(run)
    return "Run resumed: sending continues where it stopped."


def _retry(run: ReportRun) -> str:
    n = actions.retry_failed(db_session, run, current_actor())
    if n == 0:
        return "No failed reports to retry."
    ring(run)
    return f"Retrying {plural(n, 'failed report')}."


def _ring_again(run: ReportRun) -> None:
    ring(run)


@bp.post("/runs/<int:run_id>/cancel")
def cancel(run_id: int):
    """Stop sending: what is sent stays sent, nothing is repeated; the rest is cancelled."""
    return _action(run_id, _cancel, before_cancel)


@bp.post("/runs/<int:run_id>/pause")
def pause(run_id: int):
    """Pause a queued or running run."""
    return _action(run_id, _pause)


@bp.post("/runs/<int:run_id>/resume")
def resume(run_id: int):
    """Resume a paused run and hand its pending work to the workers again."""
    return _action(run_id, _resume)


@bp.post("/runs/<int:run_id>/retry-failed")
def retry_failed(run_id: int):
    """Give every failed report of the run another try."""
    return _action(run_id, _retry, before_retry)


@bp.post("/deliveries/<int:delivery_id>/resend")
def resend(delivery_id: int):
    """Send one learner's report again, as a one-learner run; once, however often clicked."""
    message = f"There is no delivery #{delivery_id}."
    delivery = found_or_404(db_session.get(Delivery, delivery_id), message)
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400, "The form could not be read; reload the page and try again.")
    old_run = db_session.get(ReportRun, delivery.run_id)
    old_run_id = old_run.id
    # Sent again as its run said it: a resend is the same email, not the month's default.
    wording = letters.RunWording(old_run.subject, old_run.intro)
    try:
        month = Month.parse(delivery.month, allow_future=True)
        run = launch_one(month, delivery.user_id, wording)
    except launch.RunConflict as exc:
        return conflict_response(exc)
    except launch.LearnerNotFound as exc:
        abort(404, str(exc))
    except (launch.NoEmailAddress, MonthNotOver) as exc:
        abort(400, str(exc))
    except launch.LearnerSuppressed as exc:
        back = url_for("run_page.show", run_id=old_run_id)
        return refusal_response(409, "Not resent", str(exc), back, "Back to the run")
    ring(run)
    notice = f"Resending to {_name(delivery.user_id)} as run #{run.id}."
    if is_htmx():
        row = run_listing.delivery_row(db_session, old_run_id, delivery_id)
        return render_template(
            "run_page/_delivery_row.html",
            row=row,
            run=db_session.get(ReportRun, old_run_id),
            row_form=ActionForm(formdata=None),
            here=safe_next(request.form.get("next")) or "",
            notice=notice,
            resent_run=run,
        )
    flash(notice, "success")
    return back_to(url_for("run_page.show", run_id=old_run_id))


def _name(user_id: int) -> str:
    user = db_session.get(User, user_id)
    return user.display_name if user else f"learner {user_id}"
