"""Accounts: who may sign in and how a password is checked, password changes, and the admins
the command line creates."""

import math
from dataclasses import dataclass

from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash

from webapp.core import audit
from webapp.core import sessions
from webapp.core.audit import Actor
from webapp.core.audit import AuditAction
from webapp.core.models import PASSWORD_METHOD
from webapp.core.models import StaffAccount
from webapp.core.models import User
from webapp.core.states import STAFF_ROLES
from webapp.core.states import Role

MIN_PASSWORD = 10

# The roles that may sign in to Quiz Reports ("staff"); learners never can. A disabled
# account is filtered in staff_by_email() too: whoever is not found there gets the one
# answer of every refusal, so the form never tells a disabled account its password was right.
SIGN_IN_ROLES = STAFF_ROLES

# The hash of a password nobody knows, made with PASSWORD_METHOD: checked whenever there is
# no staff account's hash to check, so every refusal costs what a wrong password costs.
DUMMY_HASH = (
    "scrypt:131072:8:1$QKd3YV6GQUGhwlbI$eca3bfa411f9c58ba794bf1652a34f0b37d1b83a89886971c78b0e"
    "c5f96371bcd45e74f0b909ad4aafe72516b420e2779e969ca9459d8fcb0f161753867a1b44"
)

# Why a sign-in was refused, for the audit trail only: the person signing in is told the
# same words whatever the reason, so the form says nothing about which accounts exist.
NO_STAFF_ACCOUNT = "no staff account has this email"
NO_PASSWORD = "the account has no password"
WRONG_PASSWORD = "wrong password"
UNREADABLE_HASH = "the account's stored password hash cannot be read"

# The most a stored hash may ask of a check: our own scrypt's memory, werkzeug's default
# PBKDF2 iterations twice over. A hash written elsewhere with more would take a process's
# memory or a core for one guess; it is refused as unreadable instead.
_MAX_SCRYPT_COST = math.prod(int(x) for x in PASSWORD_METHOD.split(":")[1:])
_MAX_PBKDF2_ITERATIONS = 2_000_000


@dataclass(frozen=True)
class SignInCheck:
    """What checking a sign-in found: the staff account when the password is right, and
    otherwise the reason, in words, for the audit trail."""

    user: User | None
    reason: str = ""


def staff_by_email(session: Session, email: str) -> User | None:
    """The active staff account with this email (any case); None for learners, disabled
    accounts and unknown emails."""
    email = email.strip().lower()
    return session.scalar(
        select(User)
        .outerjoin(StaffAccount, StaffAccount.user_id == User.id)
        .where(
            func.lower(User.email) == email,
            User.role.in_(SIGN_IN_ROLES),
            StaffAccount.disabled_at.is_(None),
        )
        .order_by(User.id)
        .limit(1)
    )


def _affordable(stored: str) -> bool:
    method = stored.split("$", 1)[0]
    name, *params = method.split(":")
    try:
        if name == "scrypt" and len(params) == 3:
            n, r, p = (int(x) for x in params)
            return n * r * p <= _MAX_SCRYPT_COST
        if name == "pbkdf2" and len(params) == 2:
            return int(params[1]) <= _MAX_PBKDF2_ITERATIONS
    except ValueError:
        return False
    return True


def password_matches(stored: str, password: str) -> bool | None:
    """Whether `password` is the one `stored` was made from; None when `stored` cannot be
    read (then the dummy hash is checked instead, so the answer takes as long)."""
    try:
        if _affordable(stored):
            return check_password_hash(stored, password)
    except (ValueError, OverflowError):
        pass
    check_password_hash(DUMMY_HASH, password)
    return None


def authenticate(session: Session, email: str, password: str) -> SignInCheck:
    """Check a sign-in. Every outcome takes the same path: one password hash is checked
    whether or not a staff account has this email."""
    user = staff_by_email(session, email)
    stored = user.password_hash if user is not None and user.password_hash else DUMMY_HASH
    matches = password_matches(stored, password)
    if user is None:
        return SignInCheck(None, NO_STAFF_ACCOUNT)
    if not user.password_hash:
        return SignInCheck(None, NO_PASSWORD)
    if matches is None:
        return SignInCheck(None, UNREADABLE_HASH)
    if not matches:
        return SignInCheck(None, WRONG_PASSWORD)
    return SignInCheck(user)


def change_password(
    session: Session, user: User, new_password: str, actor: Actor, lifetime_seconds: int
) -> str:
    """Give `user` a new password and end every session of theirs; the token of a new session
    for the browser that asked (committed, with its audit entry)."""
    user.set_password(new_password)
    ended = sessions.revoke_sessions(session, user.id)
    token = sessions.open_session(session, user, lifetime_seconds)
    _password_changed(session, actor, user, ended)
    session.commit()
    return token


def _password_changed(session: Session, actor: Actor, user: User, ended: int) -> None:
    target = sessions.target_of(user)
    audit.record(session, actor, AuditAction.PASSWORD_CHANGED, target, sessions.ended_words(ended))


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


COMMAND_LINE = Actor("command line")


def set_admin(
    session: Session, email: str, password: str, full_name: str, actor: Actor = COMMAND_LINE
) -> User:
    """Create the admin, or give the existing one this password and end their sessions;
    committed."""
    user = admin_by_email(session, email)
    if user is None:
        user = User(username=email, email=email, full_name=full_name, role=Role.ADMIN)
        session.add(user)
        user.set_password(password)
        audit.record(session, actor, AuditAction.USER_ADDED, email, f"role {Role.ADMIN}")
    else:
        user.set_password(password)
        _password_changed(session, actor, user, sessions.revoke_sessions(session, user.id))
    session.commit()
    return user
