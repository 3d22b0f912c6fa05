"""Accounts: finding who signs in, and the admins the command line creates."""

from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash
from werkzeug.security import generate_password_hash

from webapp.core.audit import SYSTEM_ACTOR
from webapp.core.audit import Actor
from webapp.core.audit import AuditAction
from webapp.core.audit import record
from webapp.core.models import PASSWORD_METHOD
from webapp.core.models import User
from webapp.core.states import Role

_dummy_hash: str | None = None


def find_by_email(session: Session, email: str) -> User | None:
    """The account with this email (any case); the staff account when a learner shares it."""
    email = email.strip().lower()
    users = session.scalars(select(User).where(func.lower(User.email) == email).limit(2)).all()
    staff = [u for u in users if u.staff_role is not None]
    return (staff or users or [None])[0]


def check_password(user: User | None, password: str) -> bool:
    """True when the password is the account's; an unknown account takes as long to refuse."""
    global _dummy_hash
    if user is not None:
        return user.check_password(password)
    if _dummy_hash is None:
        _dummy_hash = generate_password_hash("not a password", method=PASSWORD_METHOD)
    check_password_hash(_dummy_hash, password)
    return False


def by_ids(session: Session, ids) -> dict[int, User]:
    """The accounts with these ids, by id; None and unknown ids are left out."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {u.id: u for u in session.scalars(select(User).where(User.id.in_(wanted)))}


def admin_by_email(session: Session, email: str) -> User | None:
    """The admin account with exactly this email."""
    return session.scalar(select(User).where(User.email == email, User.role == Role.ADMIN))


def account_named(session: Session, username: str) -> User | None:
    """The account, learner or staff, with this username."""
    return session.scalar(select(User).where(User.username == username))


def set_admin(
    session: Session, email: str, password: str, full_name: str, actor: Actor = SYSTEM_ACTOR
) -> User:
    """Create the admin, or give the existing one this password; committed (a new admin
    with its audit entry)."""
    user = admin_by_email(session, email)
    if user is None:
        user = User(username=email, email=email, full_name=full_name, role=Role.ADMIN)
        session.add(user)
        record(session, actor, AuditAction.USER_ADDED, email, f"role {Role.ADMIN}")
    user.set_password(password)
    session.commit()
    return user
