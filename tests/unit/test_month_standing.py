"""Each recent month's standing, from one GROUP BY over the ledger."""

import pytest
from sqlalchemy import insert
from sqlalchemy import text

from tests.helpers.database import statements_run
from tests.helpers.factories import make_user
from webapp.core import month_standing
from webapp.core.clock import utcnow
from webapp.core.models import Delivery
from webapp.core.models import ReportRun
from webapp.core.months import Month
from webapp.web.services import get_session


def ledger(session, month: Month, *states: str) -> None:
    """A run of `month` with one delivery of a new learner in each of `states`."""
    run = ReportRun(task_id=f"{month}-0000-4000-8000-000000000000"[:36], month=str(month))
    session.add(run)
    session.flush()
    now = utcnow()
    session.execute(
        insert(Delivery),
        [
            {
                "user_id": make_user(session).id,
                "month": str(month),
                "run_id": run.id,
                "state": state,
                "message_id": f"<{month}.{i}@quiz.example>",
                "created_at": now,
                "updated_at": now,
            }
            for i, state in enumerate(states)
        ],
    )
    session.commit()


def test_each_month_in_words_newest_first(session):
    last = Month.last_full()
    ledger(session, last, *["sent"] * 4)
    ledger(session, last.shift(-2), "sent", "sent", "failed", "pending", "unknown", "cancelled")
    ledger(session, last.shift(-6), "sent")  # older than the months shown
    ledger(session, last.next(), "sent")  # the month now going: not reported on
    standing = month_standing.recent(session)
    assert [(s.month, s.words()) for s in standing] == [
        (last, "4 of 4 delivered, 0 failed"),
        (
            last.shift(-2),
            "2 of 6 delivered, 1 failed, 1 waiting to be sent, 1 of unknown outcome, 1 cancelled",
        ),
    ]
    assert standing[0].complete and not standing[1].complete


def test_the_last_full_month_is_shown_before_any_report(session):
    [only] = month_standing.recent(session)
    assert (only.month, only.words(), only.complete) == (
        Month.last_full(),
        "no report sent yet",
        False,
    )


def test_one_statement_however_many_months_and_learners(app):
    with app.app_context():
        session = get_session()
        for back in range(6):
            ledger(session, Month.last_full().shift(-back), "sent", "failed")
        engine = app.extensions["runtime"].engine
        with statements_run(engine) as statements:
            standing = month_standing.recent(session, months=12)
    assert len(standing) == 6
    assert len(statements) == 1 and "GROUP BY" in statements[0]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # SQLite's own EXPLAIN
def test_the_counts_come_from_the_index_alone_not_the_ledger(session):
    query = month_standing.counts_query(Month(2024, 7), Month(2024, 12))
    sql = query.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
    plan = session.execute(text(f"EXPLAIN QUERY PLAN {sql}")).all()
    assert any("COVERING INDEX ix_delivery_kind_month_state" in row[-1] for row in plan), plan
