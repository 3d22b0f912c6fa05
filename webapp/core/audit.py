"""The audit trail: who did what, to what, from where, and when.

Entries are written in the same transaction as the change they record, so a change and its
entry are both kept or both lost. Nothing in the product updates or deletes them, and the
database refuses to (triggers of migration 0005).
"""

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Connection
from sqlalchemy import insert
from sqlalchemy.orm import Session

from webapp.core.clock import utcnow
from webapp.core.models import AuditEntry

SYSTEM = "system"


class AuditAction(StrEnum):
    """What can be recorded; the names are what the Audit page filters by."""

    SIGN_IN = "sign_in"
    SIGN_IN_FAILED = "sign_in_failed"
    SIGN_OUT = "sign_out"
    SIGN_OUT_EVERYWHERE = "sign_out_everywhere"
    PASSWORD_CHANGED = "password_changed"
    RUN_STARTED = "run_started"
    RUN_PAUSED = "run_paused"
    RUN_RESUMED = "run_resumed"
    RUN_CANCELLED = "run_cancelled"
    RUN_RETRIED = "run_retried"
    REPORT_RESENT = "report_resent"
    TEST_SENT = "test_sent"
    TOKEN_CREATED = "token_created"
    TOKEN_REVOKED = "token_revoked"
    USER_ADDED = "user_added"
    ROLE_CHANGED = "role_changed"
    USER_DISABLED = "user_disabled"
    USER_ENABLED = "user_enabled"
    SUPPRESSION_ADDED = "suppression_added"
    SUPPRESSION_LIFTED = "suppression_lifted"


@dataclass(frozen=True)
class Actor:
    """Who acts: an account (its id and a label such as its email), a token, or the product."""

    label: str
    id: int | None = None
    source: str = ""  # the client's address, as the web layer worked it out


SYSTEM_ACTOR = Actor(SYSTEM)


def run_target(run_id: int) -> str:
    """How the trail names a run, so that the Audit page's target filter finds its entries."""
    return f"run #{run_id}"


def record(
    session: Session, actor: Actor, action: AuditAction, target: str = "", detail: str = ""
) -> AuditEntry:
    """Add an entry to the session's transaction (the caller commits it with the change)."""
    entry = AuditEntry(**_columns(actor, action, target, detail))
    session.add(entry)
    return entry


def record_row(
    db: Session | Connection, actor: Actor, action: AuditAction, target: str = "", detail: str = ""
) -> None:
    """record() for a bare connection too (a sending lane has no ORM session): the INSERT
    joins the connection's transaction, which the caller commits with the change."""
    db.execute(insert(AuditEntry).values(**_columns(actor, action, target, detail)))


def _columns(actor: Actor, action: AuditAction, target: str, detail: str) -> dict:
    return {
        "at": utcnow(),
        "actor_id": actor.id,
        "actor": actor.label[:254],
        "action": AuditAction(action).value,
        "target": target[:254],
        "source": actor.source[:64],
        "detail": detail[:1000],
    }
