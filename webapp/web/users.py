"""Users: the staff accounts (viewers, operators, admins); add one, change its role, disable or
enable it. Admins only; the rules (the last active admin stays) are core's (core/staff.py)."""

from flask import Blueprint
from flask import abort
from flask import flash
from flask import redirect
from flask import session
from flask import url_for
from flask_login import current_user
from flask_login import logout_user

from webapp.core import staff
from webapp.core.states import STAFF_ROLES
from webapp.core.states import Role
from webapp.web.access import require_role
from webapp.web.actor import current_actor
from webapp.web.forms import ActionForm
from webapp.web.forms import RoleForm
from webapp.web.forms import StaffForm
from webapp.web.htmx import is_htmx
from webapp.web.htmx import redirect_page
from webapp.web.htmx import render
from webapp.web.services import db_session

bp = Blueprint("users", __name__, url_prefix="/users")
bp.before_request(require_role(Role.ADMIN))


def _render(status: int = 200, form: StaffForm | None = None, **extra):
    context = {
        "members": staff.listed(db_session),
        "form": form or StaffForm(formdata=None),
        "action_form": ActionForm(formdata=None),
        "roles": STAFF_ROLES,
        **extra,
    }
    return render("users/index.html", "users/_users.html", status, **context)


@bp.get("")
def index():
    """Every staff account with its role and status, and the form to add one."""
    return _render()


@bp.post("")
def add():
    """Add a staff account; a generated password is shown this once."""
    form = StaffForm()
    if not form.validate_on_submit():
        return _render(422, form)
    try:
        user, generated = staff.add(
            db_session,
            current_actor(),
            form.email.data,
            form.role.data,
            form.password.data or None,
            form.full_name.data or "",
        )
    except staff.StaffError as exc:
        form.email.errors = [*form.email.errors, exc.message]
        return _render(422, form)
    # The page may hold a password: never cached (web/security.py sets no-store on pages).
    notice = f"{user.email} can now sign in as {user.role}."
    return _render(201, added=user.email, generated=generated, notice=notice)


def _member_or_404(user_id: int) -> staff.Member:
    member = staff.member(db_session, user_id)
    if member is None:
        abort(404, f"There is no staff account with id {user_id}.")
    return member


def _changed(member: staff.Member, change, done: str, already: str):
    """Make the change; the page again with what happened, or with why it was refused."""
    try:
        changed = change()
    except staff.LastAdmin as exc:
        db_session.rollback()
        return _render(409, error=exc.message)
    except LookupError as exc:  # removed by someone else since the page was loaded
        abort(404, str(exc))
    after = staff.member(db_session, member.id)
    if changed and member.id == current_user.id and not (after.active and after.role == Role.ADMIN):
        # Admins may step down while another admin stays; their session is over with it.
        logout_user()
        session.clear()
        flash(f"{done} You have been signed out.", "info")
        target = url_for("auth.login")
        return redirect_page(target) if is_htmx() else redirect(target, code=303)
    notice = done if changed else already
    if is_htmx():
        return _render(notice=notice)
    flash(notice, "success")
    return redirect(url_for("users.index"), code=303)


@bp.post("/<int:user_id>/role")
def set_role(user_id: int):
    """Give the account another role; a demotion ends its sessions."""
    member = _member_or_404(user_id)
    form = RoleForm()
    if not form.validate_on_submit():
        names = ", ".join(str(r) for r in STAFF_ROLES)
        abort(400, f"Pick one of the roles {names}; nothing was changed.")
    role = Role(form.role.data)
    return _changed(
        member,
        lambda: staff.set_role(db_session, current_actor(), user_id, role),
        f"{member.email} is now {'an' if role != Role.VIEWER else 'a'} {role}.",
        f"{member.email} was {'an' if role != Role.VIEWER else 'a'} {role} already.",
    )


@bp.post("/<int:user_id>/disable")
def disable(user_id: int):
    """Disable the account: no sign-in, no API tokens, its sessions end."""
    member = _member_or_404(user_id)
    if not ActionForm().validate_on_submit():
        abort(400, "The form could not be read; reload the page and try again.")
    return _changed(
        member,
        lambda: staff.disable(db_session, current_actor(), user_id),
        f"{member.email} is disabled: it can neither sign in nor use its API tokens.",
        f"{member.email} was disabled already.",
    )


@bp.post("/<int:user_id>/enable")
def enable(user_id: int):
    """Let a disabled account sign in and use its tokens again."""
    member = _member_or_404(user_id)
    if not ActionForm().validate_on_submit():
        abort(400, "The form could not be read; reload the page and try again.")
    return _changed(
        member,
        lambda: staff.enable(db_session, current_actor(), user_id),
        f"{member.email} is enabled again.",
        f"{member.email} was enabled already.",
    )
