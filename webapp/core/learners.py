"""Learners as the admin pages see them: search by name or email, and one learner's months."""

from dataclasses import dataclass
from email.utils import parseaddr

from sqlalchemy import ColumnElement
from sqlalchemy import Select
from sqlalchemy import extract
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm import defer

from webapp.core.models import Delivery
from webapp.core.models import ReportRun
from webapp.core.models import Score
from webapp.core.models import User
from webapp.core.months import Month
from webapp.core.paging import Page
from webapp.core.paging import counted_page_of
from webapp.core.states import DELIVERY_OPEN
from webapp.core.states import RUN_OPEN
from webapp.core.states import DeliveryKind
from webapp.core.states import Role


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _learners() -> Select:
    return select(User).where(User.role == Role.LEARNER)


def _contains(session: Session, column, pattern: str):
    if session.get_bind().dialect.name == "sqlite":
        # SQLite's LIKE ignores ASCII case by itself, as its lower() folds ASCII only: the
        # same matches, without calling lower() on three columns of every row (3x faster).
        return column.like(pattern, escape="\\")
    return column.ilike(pattern, escape="\\")


def name_or_email_contains(session: Session, text: str) -> ColumnElement[bool]:
    """The condition "the user's name, username or email contains `text`", in any case; the
    LIKE wildcards % and _ in `text` are taken as themselves."""
    pattern = _like(text)
    return or_(
        *(_contains(session, c, pattern) for c in (User.full_name, User.username, User.email))
    )


def search_query(session: Session, text: str) -> Select:
    """Learners whose name, username or email contains `text`, by name."""
    query = _learners()
    text = (text or "").strip()
    if text:
        query = query.where(name_or_email_contains(session, text))
    return query.order_by(func.lower(func.coalesce(User.full_name, User.username)), User.id)


def search(session: Session, text: str, number: int, per_page: int) -> Page:
    """One page of the learners whose name, username or email contains `text`."""
    return counted_page_of(session, search_query(session, text), number, per_page)


def suggestions(session: Session, text: str, limit: int = 10) -> list[User]:
    """Learners for the picker of the start form, once two letters are typed."""
    text = (text or "").strip()
    if len(text) < 2:
        return []
    return list(session.scalars(search_query(session, text).limit(limit)))


def find_learners(session: Session, text: str, limit: int = 10) -> list[User]:
    """The learner meant by `text` (an exact email or name wins), else up to `limit` matches."""
    text = (text or "").strip()
    if not text:
        return []
    _name, addr = parseaddr(text) if text.endswith(">") else ("", "")
    email = (addr or text).lower()
    exact = session.scalars(_learners().where(func.lower(User.email) == email).limit(2)).all()
    if len(exact) == 1:
        return list(exact)
    named = session.scalars(
        _learners().where(func.lower(User.full_name) == text.lower()).limit(2)
    ).all()
    if len(named) == 1:
        return list(named)
    return list(session.scalars(search_query(session, text).limit(limit)))


def learner(session: Session, user_id: int) -> User | None:
    """The learner with this id; None for no one, or for an admin's account."""
    user = session.get(User, user_id)
    return user if user is not None and user.role == Role.LEARNER else None


def latest_deliveries(session: Session, user_ids: list[int]) -> dict[int, Delivery]:
    """Each learner's delivery of their latest reported month."""
    if not user_ids:
        return {}
    rows = session.scalars(
        select(Delivery)
        .options(defer(Delivery.message))
        .where(Delivery.user_id.in_(user_ids), Delivery.kind == DeliveryKind.MONTHLY)
    )
    latest: dict[int, Delivery] = {}
    for d in rows:
        if d.user_id not in latest or d.month > latest[d.user_id].month:
            latest[d.user_id] = d
    return latest


@dataclass(frozen=True)
class LearnerMonth:
    """One month of a learner: attempts, the report's delivery, and whether it is going out."""

    month: str
    attempts: int
    delivery: Delivery | None
    in_flight: bool
    # A month not over yet may be previewed, not sent (launch refuses it: its report would
    # miss the attempts still to come).
    over: bool = True


def months_of(session: Session, user: User) -> list[LearnerMonth]:
    """The learner's months: those with attempts or a delivery, and the last full month."""
    year, month = extract("year", Score.timestamp), extract("month", Score.timestamp)
    attempts = {
        f"{int(y):04d}-{int(m):02d}": n
        for y, m, n in session.execute(
            select(year, month, func.count()).where(Score.user_id == user.id).group_by(year, month)
        )
    }
    deliveries = {
        d.month: d
        for d in session.scalars(
            select(Delivery)
            .options(defer(Delivery.message))
            .where(Delivery.user_id == user.id, Delivery.kind == DeliveryKind.MONTHLY)
        )
    }
    current = str(Month.current())
    months = {m for m in set(attempts) | set(deliveries) if m <= current}
    months.add(str(Month.last_full()))
    open_runs = set()
    run_ids = {d.run_id for d in deliveries.values()}
    if run_ids:
        open_runs = set(
            session.scalars(
                select(ReportRun.id).where(ReportRun.id.in_(run_ids), ReportRun.state.in_(RUN_OPEN))
            )
        )
    return [
        LearnerMonth(
            month=m,
            attempts=attempts.get(m, 0),
            delivery=deliveries.get(m),
            in_flight=m in deliveries
            and deliveries[m].state in DELIVERY_OPEN
            and deliveries[m].run_id in open_runs,
            over=m < current,
        )
        for m in sorted(months, reverse=True)
    ]
