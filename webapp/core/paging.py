"""One page of a query's rows, with the total and the number of pages."""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class Page:
    """The rows of page `number` of `pages`, out of `total` rows in all."""

    rows: list[Any]
    number: int
    pages: int
    total: int


def page_of(
    session: Session, query: Select, number: int, per_page: int, *, scalars: bool = False
) -> Page:
    """Page `number` of `query` (clamped to the last page): a count and one LIMIT query.

    scalars: rows are the first column's values (ORM objects) instead of row tuples.
    """
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    pages = max((total + per_page - 1) // per_page, 1)
    number = min(max(number, 1), pages)
    limited = query.limit(per_page).offset((number - 1) * per_page)
    rows = list(session.scalars(limited) if scalars else session.execute(limited).all())
    return Page(rows=rows, number=number, pages=pages, total=total)
