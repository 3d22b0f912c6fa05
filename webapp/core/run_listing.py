"""The run page's list of deliveries: one query of a run's rows, narrowed by state and by a
search for a learner, that the page, the counts on its filter chips and its CSV export all
build on (listed)."""

import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import Row
from sqlalchemy import Select
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.core.learners import name_or_email_contains
from webapp.core.models import Delivery
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

# What the run page lists of each delivery: the ledger row and who it is for.
ROW = (
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
    User.full_name,
    User.username,
    User.email,
)


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
    session: Session, run_id: int, *, state: str = "", text: str = "", columns=ROW
) -> Select:
    """The run's deliveries as the list shows them: in `state` ("" for all), of learners whose
    name, username or email contains `text` ("" for all). Unordered.

    columns: what to select (the whole ROW by default); the learner's table is joined only
    when a column or the search needs it, so counting by state reads the ledger's index alone.
    """
    query = select(*columns).select_from(Delivery).where(Delivery.run_id == run_id)
    if state:
        query = query.where(Delivery.state == state)
    if text or any(getattr(c, "class_", None) is User for c in columns):
        query = query.join(User, User.id == Delivery.user_id)
    if text:
        query = query.where(name_or_email_contains(session, text))
    return query


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
    rows = listed(session, run_id, text=text, columns=(Delivery.state,)).subquery()
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
    query = listed(session, run_id, state=state, text=text).order_by(Delivery.id)
    return DeliveryList(page_of(session, query, number, per_page, total=total), counts)


def export_rows(session: Session, run_id: int, state: str, text: str) -> Iterator[Row]:
    """Every listed delivery (in `state`, matching `text`) as ROW, by id, read in batches."""
    query = listed(session, run_id, state=state, text=text).order_by(Delivery.id)
    yield from session.execute(query.execution_options(yield_per=EXPORT_BATCH))


def delivery_row(session: Session, delivery_id: int) -> Row:
    """One delivery as the run page lists it."""
    query = select(*ROW).join(User, User.id == Delivery.user_id)
    return session.execute(query.where(Delivery.id == delivery_id)).one()
