"""API tokens of the signed-in admin: create (shown once, with a curl line to try it), list,
revoke. Admins only."""

import shlex

from flask import Blueprint
from flask import abort
from flask import flash
from flask import redirect
from flask import url_for
from flask_login import current_user

from webapp.core import tokens
from webapp.core.models import ApiToken
from webapp.core.states import Role
from webapp.web.access import require_role
from webapp.web.actor import current_actor
from webapp.web.forms import ActionForm
from webapp.web.forms import TokenForm
from webapp.web.htmx import is_htmx
from webapp.web.htmx import render
from webapp.web.services import db_session

bp = Blueprint("api_tokens", __name__, url_prefix="/tokens")
# A token acts as its owner: creating and revoking them is for admins.
bp.before_request(require_role(Role.ADMIN))


def _context(form: TokenForm | None = None, **extra) -> dict:
    return {
        "tokens": tokens.tokens_of(db_session, current_user.id),
        "form": form or TokenForm(formdata=None),
        "action_form": ActionForm(formdata=None),
        **extra,
    }


def curl_line(plain: str) -> str:
    """A ready command that reads the API with this token: the recent runs, which changes
    nothing, at the address this page was asked for (so it works from where the admin is)."""
    url = url_for("api.report_summary", _external=True)
    return f'curl -H "Authorization: Bearer {plain}" {shlex.quote(url)}'


def _render(status: int = 200, **context):
    return render("api_tokens/index.html", "api_tokens/_tokens.html", status, **_context(**context))


@bp.get("")
def index():
    """The admin's tokens and the form to create one."""
    return _render()


@bp.post("")
def create():
    """Create a token and show it this once; only its hash is kept."""
    form = TokenForm()
    if not form.validate_on_submit():
        return _render(422, form=form)
    row, plain = tokens.create_token(
        db_session, current_user.user, form.name.data.strip(), current_actor()
    )
    # The page holds a secret: not into any cache or the history snapshot.
    return _render(201, created=row, plain=plain, curl=curl_line(plain))


@bp.post("/<int:token_id>/revoke")
def revoke(token_id: int):
    """Revoke one of the admin's tokens; API calls with it fail from now on."""
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400, "The form could not be read; reload the page and try again.")
    row = db_session.get(ApiToken, token_id)
    if row is None or row.user_id != current_user.id:
        abort(404, "You have no token with that id.")
    name = row.name or row.prefix
    notice = (
        f"Token “{name}” revoked."
        if tokens.revoke(db_session, token_id, current_actor())
        else "Already revoked."
    )
    if is_htmx():
        return _render(notice=notice)
    flash(notice, "success")
    return redirect(url_for("api_tokens.index"), code=303)
