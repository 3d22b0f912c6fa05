"""API tokens: shown once, stored as SHA-256, compared in constant time."""

import hashlib
import hmac
import secrets

from sqlalchemy import select

from webapp.core.audit import SYSTEM_ACTOR
from webapp.core.audit import Actor
from webapp.core.audit import AuditAction
from webapp.core.audit import record
from webapp.core.clock import utcnow
from webapp.core.models import ApiToken
from webapp.core.models import User

TOKEN_PREFIX = "qr_"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _target(row: ApiToken, owner: User | None) -> str:
    owner_name = (owner.email or owner.username) if owner is not None else f"#{row.user_id}"
    return f"token {row.prefix}… “{row.name}” of {owner_name}"


def create_token(
    session, user: User, name: str = "", actor: Actor = SYSTEM_ACTOR
) -> tuple[ApiToken, str]:
    """A new token acting as `user` with its role; committed with its audit entry. Returns
    the row and the only copy of the plain token."""
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, name=name[:100], prefix=plain[:10], token_hash=_digest(plain))
    session.add(row)
    record(session, actor, AuditAction.TOKEN_CREATED, _target(row, user))
    session.commit()
    return row, plain


def user_for_token(session, plain: str) -> User | None:
    """The user a valid, unrevoked, unexpired token belongs to; None otherwise."""
    if not plain or len(plain) > 200:
        return None
    digest = _digest(plain)
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    # The lookup is by digest; compare again in constant time so timing says nothing.
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    now = utcnow()
    if row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        return None
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
        row.last_used_at = now
        session.commit()
    return session.get(User, row.user_id)


def tokens_of(session, user_id: int) -> list[ApiToken]:
    """An account's tokens: the active ones first, newest first."""
    return list(
        session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == user_id)
            .order_by(ApiToken.revoked_at.is_not(None), ApiToken.id.desc())
        )
    )


def revoke(session, token_id: int, actor: Actor = SYSTEM_ACTOR) -> bool:
    """Revoke a token, committed with its audit entry; False when it does not exist or was
    revoked already."""
    row = session.get(ApiToken, token_id)
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = utcnow()
    record(session, actor, AuditAction.TOKEN_REVOKED, _target(row, session.get(User, row.user_id)))
    session.commit()
    return True
