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
    session: Session,
    query: Select,
    number: int,
    per_page: int,
    *,
    scalars: bool = False,
    total: int | None = None,
) -> Page:
    """Page `number` of `query` (clamped to the last page): a count and one LIMIT query.

    scalars: rows are the first column's values (ORM objects) instead of row tuples.
    total: how many rows the query has, when the caller knows it already (no count).
    """
    if total is None:
        total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    pages = max((total + per_page - 1) // per_page, 1)
    number = min(max(number, 1), pages)
    limited = query.limit(per_page).offset((number - 1) * per_page)
    rows = list(session.scalars(limited) if scalars else session.execute(limited).all())
    return Page(rows=rows, number=number, pages=pages, total=total)


def counted_page_of(session: Session, query: Select, number: int, per_page: int) -> Page:
    """page_of for a query of ORM objects whose every row costs a scan (a text search): the
    total comes with the page, from a window count in the same query, so the rows are
    scanned once instead of twice. A page past the end is asked again as the last page.
    """
    found = session.execute(
        query.add_columns(func.count().over())
        .limit(per_page)
        .offset((max(number, 1) - 1) * per_page)
    ).all()
    if not found:
        return (
            page_of(session, query, number, per_page, scalars=True)
            if number > 1
            else Page([], 1, 1, 0)
        )
    total = found[0][-1]
    pages = max((total + per_page - 1) // per_page, 1)
    return Page(rows=[row[0] for row in found], number=max(number, 1), pages=pages, total=total)
