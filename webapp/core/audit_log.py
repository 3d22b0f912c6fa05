"""The audit trail as the Audit page reads it: filtered by action, actor, target and time,
newest first, a page at a time (entries are written by webapp/core/audit.py)."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select
from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.core.audit import AuditAction
from webapp.core.models import AuditEntry
from webapp.core.paging import Page
from webapp.core.paging import page_of

# What a filter's text may hold; longer text matches nothing the trail keeps anyway.
TEXT_MAX = 254


@dataclass(frozen=True)
class AuditFilter:
    """What to show; every field left empty shows everything."""

    action: AuditAction | None = None
    actor: str = ""  # part of the actor's label (an email, "system", "command line (…)")
    target: str = ""  # part of the target ("run #7", an email, a token's prefix)
    since: datetime | None = None  # naive UTC, from this moment on
    until: datetime | None = None  # naive UTC, before this moment

    @property
    def any(self) -> bool:
        """True when something is filtered."""
        return bool(self.action or self.actor or self.target or self.since or self.until)


def _contains(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def query(filters: AuditFilter) -> Select:
    """The entries the filter lets through, newest first (the id breaks ties of one instant)."""
    found = select(AuditEntry)
    if filters.action is not None:
        found = found.where(AuditEntry.action == filters.action.value)
    if filters.actor.strip():
        pattern = _contains(filters.actor.strip()[:TEXT_MAX])
        found = found.where(AuditEntry.actor.ilike(pattern, escape="\\"))
    if filters.target.strip():
        pattern = _contains(filters.target.strip()[:TEXT_MAX])
        found = found.where(AuditEntry.target.ilike(pattern, escape="\\"))
    if filters.since is not None:
        found = found.where(AuditEntry.at >= filters.since)
    if filters.until is not None:
        found = found.where(AuditEntry.at < filters.until)
    return found.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())


def entries(session: Session, filters: AuditFilter, page: int, per_page: int) -> Page:
    """One page of the entries the filter lets through, newest first."""
    return page_of(session, query(filters), page, per_page, scalars=True)
