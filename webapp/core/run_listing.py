"""The run page's list of deliveries: one query of a run's rows, narrowed by state and by a
search for a learner, that the page, the counts on its filter chips and its CSV export all
build on (listed)."""

import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import DateTime
from sqlalchemy import Integer
from sqlalchemy import Row
from sqlalchemy import Select
from sqlalchemy import cast
from sqlalchemy import func
from sqlalchemy import null
from sqlalchemy import select
from sqlalchemy import union_all
from sqlalchemy.orm import Session

from webapp.core.learners import name_or_email_contains
from webapp.core.models import Delivery
from webapp.core.models import SendRecord
from webapp.core.models import User
from webapp.core.paging import Page
from webapp.core.paging import page_of
from webapp.core.progress import Snapshot
from webapp.core.states import DeliveryState

# Longer than any name or address a learner has (emails stop at 254, but no one types one in
# full to find it); what is longer was pasted by mistake, and is refused in words.
MAX_SEARCH = 100
# Rows read from the database at a time for an export: a 100,000-learner run is never held
# in memory at once.
EXPORT_BATCH = 1000


def _run_rows(run_id: int):
    """The run's rows: its deliveries, and how those that moved on to another run since (a
    resend, a later run of the month) had ended in this one, from their records. Each row
    says where its learner's delivery went next (`moved_to`) and what it is now."""
    live = select(
        Delivery.id,
        Delivery.user_id,
        Delivery.month,
        Delivery.run_id,
        Delivery.state,
        Delivery.attempts,
        Delivery.reason,
        Delivery.last_error,
        Delivery.smtp_code,
        Delivery.sent_at,
        Delivery.next_attempt_at,
        Delivery.message_id,
        cast(null(), Integer).label("moved_to"),
        Delivery.state.label("state_now"),
    ).where(Delivery.run_id == run_id)
    moved = (
        select(
            SendRecord.delivery_id,
            SendRecord.user_id,
            SendRecord.month,
            SendRecord.run_id,
            SendRecord.state,
            SendRecord.attempts,
            SendRecord.reason,
            SendRecord.last_error,
            SendRecord.smtp_code,
            SendRecord.sent_at,
            cast(null(), DateTime),
            SendRecord.message_id,
            SendRecord.next_run_id,
            Delivery.state,
        )
        .join(Delivery, Delivery.id == SendRecord.delivery_id)
        .where(SendRecord.run_id == run_id)
    )
    return union_all(live, moved).subquery("run_rows")


class SearchTextError(ValueError):
    """Search text the list cannot look for; the message says why, for the admin."""


def search_text(raw: str | None) -> str:
    """The search as typed, trimmed; SearchTextError when it is too long to be a name or an
    address, or holds a control character (PostgreSQL refuses NUL in a query outright)."""
    text = (raw or "").strip()
    if len(text) > MAX_SEARCH:
        raise SearchTextError(
            f"Search for at most {MAX_SEARCH} characters: part of a name, a username or an "
            f"email address. The text given has {len(text):,}."
        )
    if any(unicodedata.category(c) == "Cc" for c in text):
        raise SearchTextError(
            "The search text holds a control character (such as a tab or a line break); "
            "type part of a name, a username or an email address."
        )
    return text


def listed(
    session: Session, run_id: int, *, state: str = "", text: str = "", counting: bool = False
) -> Select:
    """The run's rows as the list shows them (each with who it is for), by delivery id: in
    `state` ("" for all), of learners whose name, username or email contains `text` ("" for
    all). With `counting`, only their states, unordered: the learner's table is then joined
    only for a search, so counting by state reads the ledger's indexes alone.
    """
    rows = _run_rows(run_id)
    learner = (User.full_name, User.username, User.email)
    query = select(rows.c.state) if counting else select(*rows.c, *learner)
    if state:
        query = query.where(rows.c.state == state)
    if text or not counting:
        query = query.join(User, User.id == rows.c.user_id)
    if text:
        query = query.where(name_or_email_contains(session, text))
    return query if counting else query.order_by(rows.c.id)


def state_counts(
    session: Session, run_id: int, text: str = "", snap: Snapshot | None = None
) -> dict[str, int]:
    """How many of the listed deliveries are in each state (every state present): the run's
    snapshot when it is exact for them, else one GROUP BY over listed().

    A snapshot's counts are exact once the run has closed, and only without a search; while
    the run goes on, states move between two snapshots.
    """
    counts = dict.fromkeys(map(str, DeliveryState), 0)
    if not text and snap is not None and snap.run_id == run_id and not snap.is_open:
        counts.update(snap.counts)
        return counts
    rows = listed(session, run_id, text=text, counting=True).subquery()
    counts.update(session.execute(select(rows.c.state, func.count()).group_by(rows.c.state)).all())
    return counts


@dataclass(frozen=True)
class DeliveryList:
    """One page of the listed deliveries, and the counts of every state for the filter chips."""

    page: Page
    counts: dict[str, int]

    @property
    def all(self) -> int:
        """How many deliveries the list has in all states: the "All" chip."""
        return sum(self.counts.values())


def deliveries_of(
    session: Session,
    run_id: int,
    state: str,
    text: str,
    number: int,
    per_page: int,
    snap: Snapshot | None = None,
) -> DeliveryList:
    """One page of a run's deliveries in `state` ("" for all) whose learner matches `text`
    ("" for everyone), with the counts by state: the page's total comes from the counts, so
    this is one GROUP BY and one LIMIT query (the LIMIT alone when the snapshot is exact)."""
    counts = state_counts(session, run_id, text, snap)
    total = counts.get(state, 0) if state else sum(counts.values())
    query = listed(session, run_id, state=state, text=text)
    return DeliveryList(page_of(session, query, number, per_page, total=total), counts)


def export_rows(session: Session, run_id: int, state: str, text: str) -> Iterator[Row]:
    """Every listed row (in `state`, matching `text`), by delivery id, read in batches."""
    query = listed(session, run_id, state=state, text=text)
    yield from session.execute(query.execution_options(yield_per=EXPORT_BATCH))


def delivery_row(session: Session, run_id: int, delivery_id: int) -> Row:
    """One delivery as the run's list shows it (a record, once it has moved on)."""
    rows = listed(session, run_id).subquery()
    return session.execute(select(rows).where(rows.c.id == delivery_id)).one()
