"""Learners: search by name or email, one learner's months, and Send / Resend per month."""

from flask import Blueprint
from flask import abort
from flask import flash
from flask import render_template
from flask import request
from flask import url_for

from webapp.core import launch
from webapp.core import learners
from webapp.core import send_history
from webapp.core.models import User
from webapp.core.months import Month
from webapp.core.months import MonthNotOver
from webapp.web import chart_views
from webapp.web.access import back_to
from webapp.web.access import current_path
from webapp.web.access import require_staff
from webapp.web.errors import conflict_response
from webapp.web.errors import found_or_404
from webapp.web.errors import refusal_response
from webapp.web.forms import SendForm
from webapp.web.htmx import is_htmx
from webapp.web.htmx import render
from webapp.web.inputs import MAX_PAGE
from webapp.web.inputs import query_number
from webapp.web.services import db_session
from webapp.web.services import launch_one
from webapp.web.services import ring

bp = Blueprint("learners", __name__, url_prefix="/learners")
bp.before_request(require_staff)

PER_PAGE = 25


def learner_or_404(user_id: int) -> User:
    """The learner with this id, or a 404 page."""
    message = f"There is no learner with id {user_id}."
    return found_or_404(learners.learner(db_session, user_id), message)


@bp.get("")
def index():
    """Learners, searched by name or email, a page at a time."""
    q = request.args.get("q", "")[:200]
    page = query_number("page", 1, 1, MAX_PAGE)
    found = learners.search(db_session, q, page, PER_PAGE)
    return render(
        "learners/index.html",
        "learners/_results.html",
        q=q,
        learners=found.rows,
        last=learners.latest_deliveries(db_session, [u.id for u in found.rows]),
        total=found.total,
        page=found.number,
        pages=found.pages,
    )


@bp.get("/suggest")
def suggest():
    """<option>s for the learner picker of the start form (name and email)."""
    matches = learners.suggestions(db_session, request.args.get("learner", "")[:200])
    return render_template("learners/_options.html", matches=matches)


@bp.get("/<int:user_id>")
def show(user_id: int):
    """One learner: their months with the delivery state, Preview and Send / Resend, and
    every send of their reports."""
    user = learner_or_404(user_id)
    return render(
        "learners/show.html",
        "learners/_months.html",
        learner=user,
        rows=learners.months_of(db_session, user),
        sends=send_history.sends_of(db_session, user.id),
        form=SendForm(formdata=None),
        max_month=str(Month.current()),
        here=current_path(),
        learner_charts=None if is_htmx() else chart_views.learner_charts(db_session, user),
    )


@bp.post("/<int:user_id>/send")
def send(user_id: int):
    """Send (or resend) the learner's report for a month: a one-learner run."""
    user = learner_or_404(user_id)
    form = SendForm()
    here = url_for("learners.show", user_id=user.id)
    if not form.validate_on_submit():
        abort(400, "; ".join(e for errors in form.errors.values() for e in errors))
    try:
        run = launch_one(form.month_value, user.id)
    except launch.RunConflict as exc:
        return conflict_response(exc)
    except (launch.NoEmailAddress, MonthNotOver) as exc:
        abort(400, str(exc))
    except launch.LearnerSuppressed as exc:
        return refusal_response(409, "Not sent", str(exc), here, f"Back to {user.display_name}")
    ring(run)
    notice = (
        f"{user.display_name}’s report for {form.month_value.label} is on its way (run #{run.id})."
    )
    if is_htmx():
        body = render_template(
            "learners/_months.html",
            learner=user,
            rows=learners.months_of(db_session, user),
            form=SendForm(formdata=None),
            notice=notice,
            here=here,
        )
        # The new send is listed at once, in its own section swapped out of band.
        sends = render_template(
            "learners/_sends.html",
            learner=user,
            sends=send_history.sends_of(db_session, user.id),
            oob=True,
        )
        return body + sends
    flash(notice, "success")
    return back_to(here)
