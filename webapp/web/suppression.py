"""Suppression: the learners no report is mailed to, why and since when; add one, lift one."""

from flask import Blueprint
from flask import abort
from flask import flash
from flask import redirect
from flask import request
from flask import url_for

from webapp.core import suppression
from webapp.core.states import Role
from webapp.web.access import require_role
from webapp.web.actor import current_actor
from webapp.web.forms import ActionForm
from webapp.web.forms import SuppressForm
from webapp.web.htmx import is_htmx
from webapp.web.htmx import render
from webapp.web.inputs import MAX_PAGE
from webapp.web.inputs import query_number
from webapp.web.services import db_session

bp = Blueprint("suppression", __name__, url_prefix="/suppression")
bp.before_request(require_role(Role.ADMIN))

PER_PAGE = 50


def _render(status: int = 200, form: SuppressForm | None = None, **extra):
    email = request.args.get("email", "")[:254]
    found = suppression.listed(db_session, query_number("page", 1, 1, MAX_PAGE), PER_PAGE, email)
    context = {
        "entries": found.rows,
        "total": found.total,
        "page": found.number,
        "pages": found.pages,
        "email": email,
        "form": form or SuppressForm(formdata=None),
        **extra,
    }
    return render("suppression/index.html", "suppression/_suppression.html", status, **context)


def _done(notice: str):
    if is_htmx():
        return _render(notice=notice)
    flash(notice, "success")
    return redirect(url_for("suppression.index"), code=303)


@bp.get("")
def index():
    """The list, newest first (narrowed to an address with ?email=), and the form to add."""
    return _render()


@bp.post("")
def add():
    """Put every learner with the address on the list (reason: admin), audited."""
    form = SuppressForm()
    if not form.validate_on_submit():
        return _render(422, form=form)
    try:
        result = suppression.add_by_admin(
            db_session, form.email.data, (form.note.data or "").strip(), current_actor()
        )
    except suppression.NoSuchLearner as exc:
        form.email.errors.append(str(exc))
        return _render(422, form=form)
    if not result.added:
        learner, words = result.already[0]
        form.email.errors.append(f"{learner.display_name} is on the list already ({words}).")
        return _render(422, form=form)
    names = ", ".join(learner.display_name for learner in result.added)
    return _done(f"{names} will get no reports until the entry is lifted.")


@bp.post("/<int:entry_id>/lift")
def lift(entry_id: int):
    """Take an entry off the list, audited: the learner's reports are mailed again."""
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400, "The form could not be read; reload the page and try again.")
    entry = suppression.lift(db_session, entry_id, current_actor())
    if entry is None:
        abort(404, "That entry is not on the list (it may have been lifted already).")
    return _done(f"Lifted: the learner at {entry.email or 'no address'} gets reports again.")
