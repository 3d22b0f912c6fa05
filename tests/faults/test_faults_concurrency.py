"""Races the database must settle: the same chunk enqueued twice, two starts of one month,
two Resends at once, a worker that outlives its lease, and a locked or unreachable database.

Each scenario runs a month of a few hundred learners through real processes (the web app,
two consumers on a Redis queue, the aiosmtpd test server) and checks the invariants of
tests/helpers/invariants.py.
"""

import sqlite3
from collections import Counter

import pytest

from tests.helpers.faults import CHUNK
from tests.helpers.faults import Scenario
from tests.helpers.faults import concurrently
from tests.helpers.smtp import FaultPlan
from tests.helpers.smtp import FirstTries
from tests.helpers.smtp import received_by_address
from tests.helpers.stack import free_port
from tests.helpers.stack import process_env
from tests.helpers.waiting import eventually
from webapp.core import sending
from webapp.core.clock import utcnow

pytestmark = [pytest.mark.consumer, pytest.mark.redis]


def test_the_same_chunks_enqueued_three_times_mail_nobody_twice(sc):
    sc.smtp.plan = FaultPlan(sleep_at_rcpt={"*": 0.005})
    stack = sc.stack()
    stack.start_web()
    task_id = sc.start_run(stack)  # no consumer yet: the run waits in the queue
    run_id = sc.ledger.run(task_id).id
    with sc.ledger.context() as ctx:
        chunks = sending.begin_run(ctx, run_id, CHUNK)  # what process_all_reports does
    assert sum(len(c) for c in chunks) == sc.world.learners
    bell = sc.doorbell(stack)
    for ids in chunks:  # each chunk twice more: process_all_reports will add a third copy
        bell.send_report_chunk(run_id, ids)
        bell.send_report_chunk(run_id, ids)
    stack.start_consumers(2)
    sc.wait_finished(stack, task_id)
    sc.check("same chunks enqueued 3 times", stack, task_id)
    ran = sum(p.log().count("Executing tasks.send_report_chunk") for p in stack.history)
    assert ran >= 3 * len(chunks), ran
    sc.assert_no_more_mail(stack)


def _four_starts_at_once(sc: Scenario, name: str) -> None:
    """Four POSTs of the month at once: one run, one 202, three 409s naming it."""
    stack = sc.standard_stack()
    replies = concurrently(4, lambda _i: sc.post_run(stack))
    codes = Counter(status for status, _body, _h in replies)
    assert codes == {202: 1, 409: 3}, replies
    [task_id] = [body["task_id"] for status, body, _h in replies if status == 202]
    for status, body, _h in replies:
        if status == 409:
            assert body["task_id"] == task_id, body  # the 409 names the run that is going
    assert sc.ledger.count_runs() == 1
    sc.wait_finished(stack, task_id)
    sc.check(name, stack, task_id)
    sc.assert_no_more_mail(stack)


def test_four_admins_starting_the_same_month_at_once_get_one_run_one_202_three_409s(sc):
    _four_starts_at_once(sc, "4 starts of one month at once (SQLite)")


@pytest.mark.postgres
def test_four_starts_of_the_same_month_at_once_on_postgresql_make_one_run(
    tmp_path, smtp_server, redis_queue, postgres_url
):
    scenario = Scenario(tmp_path, smtp_server, redis_queue, database_url=postgres_url)
    try:
        _four_starts_at_once(scenario, "4 starts of one month at once (PostgreSQL)")
    finally:
        scenario.close()


def test_two_resends_at_once_send_once_before_and_after_the_months_run(sc):
    stack = sc.standard_stack()
    first, later = sorted(sc.world.emails)[5], sorted(sc.world.emails)[50]

    # Before the month's run: the learner has no delivery row yet (an INSERT race).
    replies = concurrently(2, lambda _i: sc.resend(stack, sc.world.emails[first]))
    assert sorted(status for status, _b, _h in replies) == [202, 409], replies
    [resend_task] = [b["task_id"] for s, b, _h in replies if s == 202]
    sc.wait_finished(stack, resend_task)
    assert received_by_address(sc.smtp)[0][first] == 1

    # The month's run skips that learner (sent already) and mails everyone else once.
    status, body, _ = sc.post_run(stack)
    assert status == 202 and body["total"] == sc.world.learners - 1, body
    sc.wait_finished(stack, body["task_id"])
    sc.check("2 Resends at once (+ month run)", stack, body["task_id"])

    # After it: the row exists and is sent (a compare-and-set race).
    replies = concurrently(2, lambda _i: sc.resend(stack, sc.world.emails[later]))
    assert sorted(status for status, _b, _h in replies) == [202, 409], replies
    [resend_task] = [b["task_id"] for s, b, _h in replies if s == 202]
    sc.wait_finished(stack, resend_task)
    counts = received_by_address(sc.smtp)[0]
    assert counts[later] == 2, "the Resend should mail once more, exactly once"
    assert sum(counts.values()) == sc.world.learners + 1


def test_database_locked_when_a_run_is_posted_answers_503_and_creates_nothing(
    tmp_path, smtp_server, redis_queue
):
    # SQLite's own lock, on either backend's session.
    sc = Scenario(tmp_path, smtp_server, redis_queue, f"sqlite:///{tmp_path / 'locked.sqlite3'}")
    try:
        _locked_database_answers_503(sc)
    finally:
        sc.close()


def _locked_database_answers_503(sc: Scenario) -> None:
    stack = sc.stack()
    stack.start_consumers(2)
    stack.start_web(DATABASE_BUSY_TIMEOUT=1)
    status, _body, _ = stack.api("GET", "/scheduled/report-summary", sc.world.token)
    assert status == 200  # the token's last use is recorded now, not during the lock

    lock = sqlite3.connect(sc.world.url.removeprefix("sqlite:///"), isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        status, body, headers = sc.post_run(stack)
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert status == 503, (status, body)
    assert "database is unavailable" in body["message"] and "nothing was changed" in body["message"]
    assert headers["Retry-After"] == "30"
    assert sc.ledger.count_runs() == 0 and sum(sc.ledger.states().values()) == 0
    assert sc.smtp.messages == []

    task_id = sc.start_run(stack)  # the lock is gone: the same POST now works
    sc.wait_finished(stack, task_id)
    sc.check("SQLite locked at POST: 503, then run", stack, task_id)


@pytest.mark.postgres
def test_postgresql_unreachable_when_a_run_is_posted_answers_503(sc, tmp_path):
    closed = free_port()  # nothing listens there
    env = process_env(
        tmp_path, sc.smtp.port, DATABASE_URL=f"postgresql+psycopg://postgres@127.0.0.1:{closed}/x"
    )
    stack = sc.stack(env)
    stack.start_web()
    status, body, headers = sc.post_run(stack)
    assert status == 503, (status, body)
    assert "database is unavailable" in body["message"]
    assert headers["Retry-After"] == "30"
    assert sc.smtp.messages == []


def test_a_worker_that_outlives_its_lease_does_not_mail_a_learner_twice(sc):
    """A worker stuck at RCPT past its lease; the reaper gives the delivery to another worker.

    When the first worker wakes up, the delivery is claimed again by someone else; it must
    notice it lost the claim rather than send a second copy.
    """
    victim = sorted(sc.world.emails)[0]  # in the first chunk
    sc.smtp.plan = FaultPlan(
        sleep_at_rcpt={victim: FirstTries(1, 8.0)},  # longer than the 3 s lease
        sleep_in_data={victim: 6.0},  # the second worker waits for its 250 meanwhile
    )
    stack = sc.standard_stack(SMTP_TIMEOUT=15)
    task_id = sc.start_run(stack)
    uid = sc.world.emails[victim]

    def claim_expired():
        d = sc.ledger.deliveries(sc.world.month)[victim]
        return d.state == "sending" and d.lease_until < utcnow()

    eventually(claim_expired, timeout=20, interval=0.1)
    bell = sc.doorbell(stack)
    ticks = stack.periodic_reaps()
    reaped = bell.reap_now().get(blocking=True, timeout=10)
    if stack.periodic_reaps() == ticks:  # else the minute's reaper may have released it
        assert reaped["released"] == 1, reaped
    run_id = sc.ledger.run(task_id).id
    delivery_id = sc.ledger.deliveries(sc.world.month)[victim].id
    bell.send_report_chunk(run_id, [delivery_id])
    sc.wait_finished(stack, task_id)
    counts = received_by_address(sc.smtp)[0]
    assert counts[victim] == 1, f"learner {uid} received {counts[victim]} copies"
    # Both workers really held a claim on it: the stuck one and the one that sent it.
    assert sc.ledger.deliveries(sc.world.month)[victim].attempts == 2
    assert sc.smtp.attempts[("rcpt", victim)] == 2
    sc.check("worker outlives its lease (stuck at RCPT)", stack, task_id)
