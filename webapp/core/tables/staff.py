"""What the product keeps about its staff and whom it may mail: API tokens, the audit trail,
sign-in sessions, staff accounts and the suppression list."""

from datetime import datetime

from sqlalchemy import DateTime
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from webapp.core.clock import utcnow
from webapp.core.states import SuppressionReason
from webapp.core.tables.base import Base


class ApiToken(Base):
    """A Bearer token of an admin; only its SHA-256 is stored."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    prefix: Mapped[str] = mapped_column(String(12))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)


class AuditEntry(Base):
    """One thing a person (or a token, or the product itself) did, as it happened: append-only
    (see webapp/core/audit.py; triggers of migration 0005 refuse updates and deletes)."""

    __tablename__ = "audit_entry"
    __table_args__ = (
        # The Audit page's filter by action, newest first, reads this instead of walking
        # back through every sign-in to find the few role changes.
        Index("ix_audit_entry_action_at", "action", "at"),
        # AUTOINCREMENT on SQLite too: an entry's number is never given twice.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    # No foreign key: the trail outlives the accounts it names, so it also keeps their label.
    actor_id: Mapped[int | None] = mapped_column(Integer, index=True)
    actor: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(40), index=True)
    target: Mapped[str] = mapped_column(String(254), default="")
    source: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[str] = mapped_column(String(1000), default="")


class AccountSession(Base):
    """One signed-in browser of a staff account (see webapp/core/sessions.py): the session
    cookie holds a random token whose SHA-256 is kept here, so a session ends for good when
    its row goes (sign-out, sign out everywhere, a password change, demotion)."""

    __tablename__ = "account_session"
    # AUTOINCREMENT on SQLite too: a session's number is never given twice.
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # No foreign key: the quiz platform may delete an account without asking us, and the
    # fingerprint below already keeps a reused id from taking over the old account's rows.
    user_id: Mapped[int] = mapped_column(Integer, index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    # SHA-256 of the account's id, username and password hash when the session began: a
    # password changed anywhere (even by the platform) or another account given the same id
    # no longer matches, and the session is over.
    account_fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)


class StaffAccount(Base):
    """What the product keeps about a staff account beyond the quiz platform's user row: whether
    it is disabled. A staff account without a row here is active (the admins made before it)."""

    __tablename__ = "staff_account"

    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), primary_key=True)
    added_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # Set while the account may neither sign in nor use its API tokens.
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime)


class Suppression(Base):
    """A learner no report is mailed to, why, since when and on whose word (see
    webapp/core/suppression.py). Lifting an entry removes it; the audit trail keeps both."""

    __tablename__ = "suppression"
    __table_args__ = (
        # One entry a learner: a run joins it to every learner (launch.plan) by this index.
        Index("uq_suppression_user", "user_id", unique=True),
        Index("ix_suppression_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    # The address the learner had when the entry was made (the one that bounced, say).
    email: Mapped[str] = mapped_column(String(254), default="")
    reason: Mapped[str] = mapped_column(String(20), default=SuppressionReason.ADMIN)
    detail: Mapped[str] = mapped_column(String(1000), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # Who added it, as the audit trail names them, and the admin's account id if it was one.
    added_by: Mapped[str] = mapped_column(String(254), default="")
    added_by_id: Mapped[int | None] = mapped_column(Integer)
