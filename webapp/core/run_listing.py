"""The run page's list of deliveries: one query of a run's rows that the page, its filters
and its counts build on."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.core.models import Delivery
from webapp.core.models import User
from webapp.core.paging import Page
from webapp.core.paging import page_of
from webapp.core.progress import Snapshot

# What the run page lists of each delivery: the ledger row and who it is for.
_DELIVERY_ROW = (
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
    User.full_name,
    User.username,
    User.email,
)


def _delivery_rows():
    return select(*_DELIVERY_ROW).join(User, User.id == Delivery.user_id)


def deliveries_of(
    session: Session,
    run_id: int,
    state: str,
    number: int,
    per_page: int,
    snap: Snapshot | None = None,
) -> Page:
    """One page of a run's deliveries, in the state given ("" for all): two indexed queries,
    or one when the run's snapshot gives the total.

    A snapshot's counts are exact once the run has closed; while it runs, only its total is
    (a run's deliveries are fixed when it starts), as states move between two snapshots.
    """
    query = _delivery_rows().where(Delivery.run_id == run_id)
    if state:
        query = query.where(Delivery.state == state)
    total = None
    if snap is not None and snap.run_id == run_id:
        if not state:
            total = snap.total
        elif not snap.is_open:
            total = snap.counts.get(state, 0)
    return page_of(session, query.order_by(Delivery.id), number, per_page, total=total)


def delivery_row(session: Session, delivery_id: int):
    """One delivery as the run page lists it."""
    return session.execute(_delivery_rows().where(Delivery.id == delivery_id)).one()
