"""Learners: search by name or email, one learner's months, and Send / Resend per month."""

from email.utils import parseaddr

from flask import Blueprint
from flask import abort
from flask import current_app
from flask import flash
from flask import make_response
from flask import render_template
from flask import request
from flask import url_for
from flask_login import current_user
from sqlalchemy import extract
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy.orm import defer

from webapp.core import runs
from webapp.core.models import Delivery
from webapp.core.models import ReportRun
from webapp.core.models import Score
from webapp.core.models import User
from webapp.core.months import Month
from webapp.enqueue import enqueue
from webapp.infra.database import db_session
from webapp.web.forms import SendForm
from webapp.web.pages import back_to
from webapp.web.pages import conflict_response
from webapp.web.pages import current_path
from webapp.web.pages import is_htmx
from webapp.web.pages import render
from webapp.web.pages import require_admin

bp = Blueprint("learners", __name__, url_prefix="/learners")
bp.before_request(require_admin)

PER_PAGE = 25


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_query(text: str):
    """Learners whose name, username or email contains `text`, by name."""
    query = select(User).where(User.role == "user")
    text = (text or "").strip()
    if text:
        pattern = _like(text)
        query = query.where(
            or_(
                func.lower(User.full_name).like(pattern, escape="\\"),
                func.lower(User.username).like(pattern, escape="\\"),
                func.lower(User.email).like(pattern, escape="\\"),
            )
        )
    return query.order_by(func.lower(func.coalesce(User.full_name, User.username)), User.id)


def find_learners(session, text: str, limit: int = 10) -> list[User]:
    """The learner meant by `text` (an exact email or name wins), else up to `limit` matches."""
    text = (text or "").strip()
    if not text:
        return []
    learners = select(User).where(User.role == "user")
    _name, addr = parseaddr(text) if text.endswith(">") else ("", "")
    email = (addr or text).lower()
    exact = session.scalars(learners.where(func.lower(User.email) == email).limit(2)).all()
    if len(exact) == 1:
        return list(exact)
    named = session.scalars(
        learners.where(func.lower(User.full_name) == text.lower()).limit(2)
    ).all()
    if len(named) == 1:
        return list(named)
    return list(session.scalars(search_query(text).limit(limit)))


def _last_deliveries(user_ids: list[int]) -> dict[int, Delivery]:
    if not user_ids:
        return {}
    rows = db_session.scalars(
        select(Delivery)
        .options(defer(Delivery.message))
        .where(Delivery.user_id.in_(user_ids), Delivery.kind == runs.KIND)
    )
    latest: dict[int, Delivery] = {}
    for d in rows:
        if d.user_id not in latest or d.month > latest[d.user_id].month:
            latest[d.user_id] = d
    return latest


@bp.get("")
def index():
    """Learners, searched by name or email, a page at a time."""
    q = request.args.get("q", "")[:200]
    page = request.args.get("page", "1")
    page = int(page) if page.isdigit() and 0 < int(page) < 10**6 else 1
    query = search_query(q)
    total = db_session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    pages = max((total + PER_PAGE - 1) // PER_PAGE, 1)
    page = min(page, pages)
    learners = list(db_session.scalars(query.limit(PER_PAGE).offset((page - 1) * PER_PAGE)))
    return render(
        "learners/index.html",
        "learners/_results.html",
        q=q,
        learners=learners,
        last=_last_deliveries([u.id for u in learners]),
        total=total,
        page=page,
        pages=pages,
    )


@bp.get("/suggest")
def suggest():
    """<option>s for the learner picker of the start form (name and email)."""
    text = request.args.get("learner", "")[:200].strip()
    matches = list(db_session.scalars(search_query(text).limit(10))) if len(text) >= 2 else []
    return render_template("learners/_options.html", matches=matches)


def learner_or_404(user_id: int) -> User:
    """The learner with this id, or a 404 page."""
    user = db_session.get(User, user_id)
    if user is None or user.role != "user":
        abort(404, f"There is no learner with id {user_id}.")
    return user


def month_rows(user: User) -> list[dict]:
    """The learner's months: those with attempts or a delivery, and the last full month."""
    year, month = extract("year", Score.timestamp), extract("month", Score.timestamp)
    attempts = {
        f"{int(y):04d}-{int(m):02d}": n
        for y, m, n in db_session.execute(
            select(year, month, func.count()).where(Score.user_id == user.id).group_by(year, month)
        )
    }
    deliveries = {
        d.month: d
        for d in db_session.scalars(
            select(Delivery)
            .options(defer(Delivery.message))
            .where(Delivery.user_id == user.id, Delivery.kind == runs.KIND)
        )
    }
    current = str(Month.current())
    months = {m for m in set(attempts) | set(deliveries) if m <= current}
    months.add(str(Month.last_full()))
    open_runs = set()
    run_ids = {d.run_id for d in deliveries.values()}
    if run_ids:
        open_runs = set(
            db_session.scalars(
                select(ReportRun.id).where(
                    ReportRun.id.in_(run_ids), ReportRun.state.in_(("queued", "running", "paused"))
                )
            )
        )
    return [
        {
            "month": m,
            "attempts": attempts.get(m, 0),
            "delivery": deliveries.get(m),
            "in_flight": m in deliveries
            and deliveries[m].state in ("pending", "sending")
            and deliveries[m].run_id in open_runs,
        }
        for m in sorted(months, reverse=True)
    ]


@bp.get("/<int:user_id>")
def show(user_id: int):
    """One learner: their months with the delivery state, Preview and Send / Resend."""
    user = learner_or_404(user_id)
    return render(
        "learners/show.html",
        "learners/_months.html",
        learner=user,
        rows=month_rows(user),
        form=SendForm(formdata=None),
        max_month=str(Month.current()),
        here=current_path(),
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
        run = runs.start_one(
            db_session,
            form.month_value,
            user.id,
            started_by_id=current_user.id,
            mail_from=current_app.config["MAIL_FROM"],
        )
    except runs.RunConflict as exc:
        return conflict_response(exc)
    except ValueError as exc:
        abort(400, str(exc))
    enqueue(run)
    notice = (
        f"{user.display_name}’s report for {form.month_value.label} is on its way (run #{run.id})."
    )
    if is_htmx():
        body = render_template(
            "learners/_months.html",
            learner=user,
            rows=month_rows(user),
            form=SendForm(formdata=None),
            notice=notice,
            here=here,
        )
        return make_response(body)
    flash(notice, "success")
    return back_to(here)
