"""A learner's unsubscribe link, /unsubscribe/<token>: no sign-in, the signed token is the key.

GET shows a page with a button, and never changes anything: mail scanners and link previews
open links on their own. The POST opts the learner out; it is what the button sends, and what
a mail client's one-click unsubscribe sends (RFC 8058: "List-Unsubscribe=One-Click", no
cookies). A forged or altered token gets a 404 page and changes nothing; repeating is harmless.
"""

from flask import Blueprint
from flask import make_response
from flask import render_template
from flask import request

from webapp.core import suppression
from webapp.core import unsubscribe
from webapp.core.audit import Actor
from webapp.core.models import Suppression
from webapp.core.models import User
from webapp.web.extensions import csrf
from webapp.web.forms import UnsubscribeForm
from webapp.web.services import db_session
from webapp.web.services import settings

bp = Blueprint("unsubscribe", __name__, url_prefix="/unsubscribe")

INVALID = (
    "This unsubscribe link is not valid. Open it again from the email itself: a link that was "
    "cut short or changed does not work. Nothing was changed."
)


def _learner(token: str) -> tuple[User, Suppression | None] | None:
    """The learner the token names and their suppression entry, or None for a bad token."""
    user_id = unsubscribe.links_for(settings()).user_id(token)
    if user_id is None:
        return None
    return suppression.learner_for_link(db_session, user_id)


def _page(template: str, status: int = 200, **context):
    response = make_response(render_template(template, **context), status)
    # The token in this URL is the learner's key: not into a shared cache, and not sent on.
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _invalid(status: int = 404, message: str = INVALID):
    return _page("unsubscribe/invalid.html", status, code=status, message=message)


@bp.get("/<token>")
def confirm(token: str):
    """The page with the Unsubscribe button (or saying it is done already)."""
    found = _learner(token)
    if found is None:
        return _invalid()
    _learner_row, entry = found
    if entry is not None:
        return _page("unsubscribe/done.html", since=suppression.day(entry.created_at))
    return _page("unsubscribe/confirm.html", form=UnsubscribeForm(formdata=None))


@bp.post("/<token>")
@csrf.exempt
def opt_out(token: str):
    """Opt the learner out: the page's button, or a mail client's one-click POST."""
    found = _learner(token)
    if found is None:
        return _invalid()
    form = UnsubscribeForm()
    if not form.validate():
        return _invalid(400, "This unsubscribe request could not be read. Nothing was changed.")
    learner, _entry = found
    actor = Actor(f"learner {learner.id} (unsubscribe link)", None, request.remote_addr or "")
    how = "one-click from a mail client" if form.is_one_click else "on the unsubscribe page"
    suppression.unsubscribe(db_session, learner.id, how, actor)
    entry = suppression.of_learner(db_session, learner.id)
    return _page("unsubscribe/done.html", since=suppression.day(entry.created_at))
