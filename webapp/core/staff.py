"""Staff accounts: the viewers, operators and admins of Quiz Reports. Adding one, changing its
role, disabling and enabling it, each recorded in the audit trail in the change's transaction;
and what the access checks need to know about an account on every request.

A staff account is a row of the quiz platform's user table with a staff role; whether it is
disabled is kept in the product's own staff_account table (no row: active).
"""

import secrets
from dataclasses import dataclass
from datetime import datetime

from email_validator import EmailNotValidError
from email_validator import validate_email
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from webapp.core.audit import Actor
from webapp.core.audit import AuditAction
from webapp.core.audit import record
from webapp.core.clock import utcnow
from webapp.core.models import StaffAccount
from webapp.core.models import User
from webapp.core.sessions import revoke_sessions
from webapp.core.states import STAFF_ROLES
from webapp.core.states import Role

MIN_PASSWORD = 10
MAX_PASSWORD = 1024


class StaffError(ValueError):
    """A change that cannot be made, with the reason in words; nothing was changed."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class LastAdmin(StaffError):
    """The change would leave no active admin, and nobody could manage accounts any more."""


@dataclass(frozen=True)
class Member:
    """One staff account as the Users page and the command line show it."""

    id: int
    email: str
    name: str
    role: Role
    added_at: datetime | None
    disabled_at: datetime | None

    @property
    def active(self) -> bool:
        return self.disabled_at is None


@dataclass(frozen=True)
class Standing:
    """What the access checks ask of an account on every request."""

    role: Role | None  # None: a learner, or a role the product does not know
    disabled: bool

    @property
    def active(self) -> bool:
        """A staff account that is not disabled: it may sign in and use its API tokens."""
        return self.role is not None and not self.disabled


def standing(session: Session, user: User) -> Standing:
    """The account's role and whether it is disabled, read afresh."""
    account = session.get(StaffAccount, user.id)
    return Standing(
        role=user.staff_role,
        disabled=account is not None and account.disabled_at is not None,
    )


def _member(user: User, account: StaffAccount | None) -> Member:
    return Member(
        id=user.id,
        email=user.email or user.username,
        name=user.display_name,
        role=user.staff_role,
        added_at=account.added_at if account is not None else None,
        disabled_at=account.disabled_at if account is not None else None,
    )


def _staff_query():
    return (
        select(User, StaffAccount)
        .outerjoin(StaffAccount, StaffAccount.user_id == User.id)
        .where(User.role.in_(STAFF_ROLES))
    )


def listed(session: Session) -> list[Member]:
    """Every staff account: admins first, then operators, then viewers, each by email."""
    members = [_member(u, a) for u, a in session.execute(_staff_query())]
    return sorted(members, key=lambda m: (-m.role.rank, m.email.lower()))


def member(session: Session, user_id: int) -> Member | None:
    """The staff account with this id; None for a learner or no account."""
    found = session.execute(_staff_query().where(User.id == user_id)).first()
    return _member(*found) if found is not None else None


def by_email(session: Session, email: str) -> User | None:
    """The staff account with this email (any case)."""
    return session.scalar(
        select(User)
        .where(func.lower(User.email) == email.strip().lower(), User.role.in_(STAFF_ROLES))
        .limit(1)
    )


def clean_email(email: str | None) -> str:
    """The address, normalised; StaffError in words when it is not one."""
    try:
        return validate_email((email or "").strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise StaffError(f"That is not an email address: {exc}") from None


def clean_role(value: str | None) -> Role:
    """A staff role by its name; StaffError in words for anything else (a learner's too)."""
    role = Role.of(value)
    if role not in STAFF_ROLES:
        names = ", ".join(str(r) for r in STAFF_ROLES)
        raise StaffError(f"{value!r} is not a staff role: pick one of {names}.")
    return role


def clean_password(password: str) -> str:
    """The password when it is long enough to be kept; StaffError in words otherwise."""
    if len(password) < MIN_PASSWORD:
        raise StaffError(f"The password must have at least {MIN_PASSWORD} characters.")
    if len(password) > MAX_PASSWORD:
        raise StaffError(f"The password may have at most {MAX_PASSWORD:,} characters.")
    return password


def new_password() -> str:
    """A generated password, to be shown once to whoever adds the account."""
    return secrets.token_urlsafe(12)


def add(
    session: Session,
    actor: Actor,
    email: str,
    role: str,
    password: str | None = None,
    full_name: str = "",
) -> tuple[User, str | None]:
    """Add a staff account; committed with its audit entry. The account and the password that
    was generated for it (None when one was given)."""
    email = clean_email(email)
    the_role = clean_role(role)
    generated = None if password else new_password()
    password = clean_password(password or generated)
    taken = session.scalar(
        select(User)
        .where(
            or_(
                User.username == email,
                (func.lower(User.email) == email.lower()) & User.role.in_(STAFF_ROLES),
            )
        )
        .limit(1)
    )
    if taken is not None:
        what = f"the {taken.staff_role} account" if taken.staff_role else "a learner's account"
        raise StaffError(f"{email} is already {what}; nothing was added.")
    user = User(username=email, email=email, full_name=full_name.strip() or None, role=the_role)
    user.set_password(password)
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        # The same address added at the same moment by someone else: the username is unique.
        session.rollback()
        raise StaffError(
            f"{email} was added by someone else just now; nothing was added."
        ) from None
    session.add(StaffAccount(user_id=user.id, added_at=utcnow()))
    record(session, actor, AuditAction.USER_ADDED, email, f"role {the_role}")
    session.commit()
    return user, generated


def _lock_admins(session: Session) -> None:
    # On PostgreSQL every admin's row stays locked until the commit, so two admins demoting
    # or disabling each other at the same moment go one after the other, and the second
    # counts what the first left. SQLite lets one writer at a time in anyway.
    session.execute(select(User.id).where(User.role == Role.ADMIN).with_for_update()).all()


def _active_admins(session: Session) -> int:
    return session.scalar(
        select(func.count())
        .select_from(User)
        .outerjoin(StaffAccount, StaffAccount.user_id == User.id)
        .where(User.role == Role.ADMIN, StaffAccount.disabled_at.is_(None))
    )


def _keep_an_admin(session: Session, actor: Actor, user: User, what: str) -> None:
    # Checked after the change, in its transaction: the count sees the change itself.
    session.flush()
    if _active_admins(session) > 0:
        return
    session.rollback()
    who = "You are" if actor.id == user.id else f"{user.email or user.username} is"
    raise LastAdmin(
        f"{who} the last active admin, so the account cannot be {what}: nobody could manage "
        "accounts any more. Make another account an admin first."
    )


def _staff_user(session: Session, user_id: int) -> tuple[User, StaffAccount | None]:
    user = session.get(User, user_id)
    if user is None or user.staff_role is None:
        raise LookupError(f"There is no staff account with id {user_id}.")
    return user, session.get(StaffAccount, user_id)


def set_role(session: Session, actor: Actor, user_id: int, role: str) -> bool:
    """Give the account another staff role; False when it had it already. A demotion ends
    the account's sessions. LastAdmin when no active admin would be left."""
    new_role = clean_role(role)
    _lock_admins(session)
    user, _account = _staff_user(session, user_id)
    old_role = user.staff_role
    if new_role == old_role:
        session.rollback()  # lets go of the admins' rows
        return False
    user.role = new_role
    if old_role == Role.ADMIN:
        _keep_an_admin(session, actor, user, f"made {new_role}")
    target = user.email or user.username
    record(session, actor, AuditAction.ROLE_CHANGED, target, f"{old_role} → {new_role}")
    if not new_role.at_least(old_role):
        # Last before the commit: whether or not revoke_sessions commits by itself, the
        # change, its entry and the revocation are kept together.
        revoke_sessions(session, user_id)
    session.commit()
    return True


def disable(session: Session, actor: Actor, user_id: int) -> bool:
    """Disable the account: it can neither sign in nor use its tokens, and its sessions end.
    False when it was disabled already; LastAdmin when no active admin would be left."""
    _lock_admins(session)
    user, account = _staff_user(session, user_id)
    if account is not None and account.disabled_at is not None:
        session.rollback()  # lets go of the admins' rows
        return False
    if account is None:
        account = StaffAccount(user_id=user.id, added_at=utcnow())
        session.add(account)
    account.disabled_at = utcnow()
    if user.is_admin:
        _keep_an_admin(session, actor, user, "disabled")
    record(session, actor, AuditAction.USER_DISABLED, user.email or user.username)
    revoke_sessions(session, user_id)  # last before the commit, as in set_role
    session.commit()
    return True


def enable(session: Session, actor: Actor, user_id: int) -> bool:
    """Let a disabled account sign in and use its tokens again; False when it was active."""
    user, account = _staff_user(session, user_id)
    if account is None or account.disabled_at is None:
        return False
    account.disabled_at = None
    record(session, actor, AuditAction.USER_ENABLED, user.email or user.username)
    session.commit()
    return True
