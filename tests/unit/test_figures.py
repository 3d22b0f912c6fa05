"""The /metrics histogram of waits, counted by the database the same way on both backends."""

from datetime import timedelta

import pytest
from sqlalchemy import update

from webapp.core import figures
from webapp.core.clock import utcnow
from webapp.core.lifecycle import deliveries
from webapp.core.models import Delivery
from webapp.core.models import ReportRun


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_waits_are_bucketed_by_seconds_from_the_runs_start(session, run_of_three):
    run, ids, _ = run_of_three
    for did in ids:
        deliveries.claim(session, did, run.id, 60)
        deliveries.mark_sent(session, did, run.id, 250, b"x", "0" * 64)
    started = utcnow() - timedelta(hours=1)
    session.execute(update(ReportRun).values(started_at=started))
    for did, seconds in zip(ids, (0.5, 10, 1000), strict=True):
        sent_at = started + timedelta(seconds=seconds)
        session.execute(update(Delivery).where(Delivery.id == did).values(sent_at=sent_at))
    session.commit()
    found = figures.read(session)
    by_bound = dict(zip(figures.WAIT_BUCKETS, found.wait_buckets, strict=True))
    assert (by_bound[1], by_bound[5], by_bound[15], by_bound[900], by_bound[3600]) == (
        1,
        1,
        2,
        2,
        3,
    )
    assert found.wait_count == 3
    assert found.wait_sum == pytest.approx(1010.5, abs=0.01)
