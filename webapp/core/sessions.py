"""Signed-in sessions, kept in the database so that they can be ended.

A signed cookie alone cannot be taken back: it stays valid wherever a copy of it is until it
expires. So each sign-in makes a row of `account_session` holding the SHA-256 of a random
token, the cookie holds the token, and every request looks the row up. Signing out deletes
this browser's row; signing out everywhere, a password change and a demotion delete all of
an account's rows (`revoke_sessions`).

A row also keeps a fingerprint of the account it was made for (id, username, password hash).
The quiz platform can delete an account and give its id to a new one, or change a password
on its own: either way the fingerprint no longer matches and the old cookie is refused.
"""

import hashlib
import hmac
import secrets
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.core import audit
from webapp.core.audit import Actor
from webapp.core.audit import AuditAction
from webapp.core.clock import utcnow
from webapp.core.models import AccountSession
from webapp.core.models import User

# Longer than any token this module makes (43 characters): nothing larger is looked up.
_TOKEN_MAX = 100


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def fingerprint(user: User) -> str:
    """What a session remembers of its account: changes when the password or the account does."""
    return _digest(f"{user.id}\n{user.username}\n{user.password_hash or ''}")


def target_of(user: User) -> str:
    """How the audit trail names an account."""
    return f"user {user.id} ({user.email or user.username})"


def ended_words(count: int) -> str:
    """ "3 sessions ended", for the audit trail's detail."""
    return f"{count} session{'' if count == 1 else 's'} ended"


def open_session(session: Session, user: User, lifetime_seconds: int) -> str:
    """Add a session for `user` to the caller's transaction; the token for its cookie.

    Expired rows go on the way, and so do rows that another account with this id left.
    """
    now = utcnow()
    mine = fingerprint(user)
    session.execute(
        delete(AccountSession).where(
            or_(
                AccountSession.expires_at <= now,
                (AccountSession.user_id == user.id) & (AccountSession.account_fingerprint != mine),
            )
        )
    )
    token = secrets.token_urlsafe(32)
    session.add(
        AccountSession(
            user_id=user.id,
            token_sha256=_digest(token),
            account_fingerprint=mine,
            created_at=now,
            expires_at=now + timedelta(seconds=lifetime_seconds),
        )
    )
    return token


def sign_in(session: Session, user: User, actor: Actor, lifetime_seconds: int) -> str:
    """A new session for `user`, recorded in the audit trail; committed. The cookie's token."""
    token = open_session(session, user, lifetime_seconds)
    audit.record(session, actor, AuditAction.SIGN_IN, target_of(user))
    session.commit()
    return token


def user_for(session: Session, user_id: int, token: str | None) -> User | None:
    """The account of a session cookie while its session stands; None once it has ended,
    expired, or its account changed."""
    if not isinstance(token, str) or not token or len(token) > _TOKEN_MAX:
        return None
    digest = _digest(token)
    row = session.scalar(select(AccountSession).where(AccountSession.token_sha256 == digest))
    if row is None or row.user_id != user_id or row.expires_at <= utcnow():
        return None
    user = session.get(User, user_id)
    if user is None or not hmac.compare_digest(row.account_fingerprint, fingerprint(user)):
        return None
    return user


def revoke_sessions(session: Session, user_id: int) -> int:
    """End every session of the account: in the caller's transaction, which commits it (with
    the audit entry of whatever made it necessary). How many there were."""
    result = session.execute(delete(AccountSession).where(AccountSession.user_id == user_id))
    return result.rowcount or 0


def sign_out(session: Session, user: User, token: str | None, actor: Actor) -> None:
    """End this browser's session of `user`, recorded in the audit trail; committed."""
    if isinstance(token, str) and token:
        session.execute(
            delete(AccountSession).where(
                AccountSession.token_sha256 == _digest(token), AccountSession.user_id == user.id
            )
        )
    audit.record(session, actor, AuditAction.SIGN_OUT, target_of(user))
    session.commit()


def sign_out_everywhere(session: Session, user: User, actor: Actor) -> int:
    """End every session of `user`, this one too, recorded in the audit trail; committed."""
    ended = revoke_sessions(session, user.id)
    audit.record(
        session, actor, AuditAction.SIGN_OUT_EVERYWHERE, target_of(user), ended_words(ended)
    )
    session.commit()
    return ended


def active_count(session: Session, user: User) -> int:
    """How many browsers are signed in as `user` now."""
    return session.scalar(
        select(func.count())
        .select_from(AccountSession)
        .where(
            AccountSession.user_id == user.id,
            AccountSession.account_fingerprint == fingerprint(user),
            AccountSession.expires_at > utcnow(),
        )
    )


def refused(session: Session, actor: Actor, reason: str) -> None:
    """Record a failed sign-in (the actor names the email as typed and the address); committed."""
    audit.record(session, actor, AuditAction.SIGN_IN_FAILED, actor.label, reason)
    session.commit()
