"""Runs through a real huey_consumer process and the web app, on each supported backend."""

import sqlite3
import time

import pytest

from tests.helpers.factories import SeededDatabase
from tests.helpers.factories import seed_database
from tests.helpers.ledger import LedgerView
from tests.helpers.smtp import SmtpTestServer
from tests.helpers.smtp import received_by_address
from tests.helpers.stack import Stack
from tests.helpers.stack import process_env
from tests.helpers.waiting import eventually
from tests.helpers.waiting import stays_true

LEARNERS = 60


def queue_env(tmp_path, smtp_server, database_url: str, redis_queue=None, **extra) -> dict:
    """The processes' environment: this test's database, and its queue on SQLite or Redis."""
    if redis_queue:
        url, name = redis_queue
        queue = {"REDIS_URL": url, "HUEY_NAME": name}
    else:
        queue = {"HUEY_SQLITE_PATH": str(tmp_path / "queue.sqlite3")}
    env = process_env(tmp_path, smtp_server.port, DATABASE_URL=database_url, **queue, **extra)
    if not redis_queue:
        env.pop("REDIS_URL", None)
    return env


def started(stacks, env: dict, consumers: int = 1) -> Stack:
    """A stack of `consumers` consumers (only the first runs the periodic reaper) and the web
    app."""
    stack = stacks(env)
    stack.start_consumers(consumers)
    stack.start_web()
    return stack


def post_month(stack: Stack, world: SeededDatabase):
    """POST the month's run for everyone; the raw reply."""
    return stack.api(
        "POST",
        "/scheduled/generate-all-monthly-reports",
        world.token,
        {"month_year": world.month},
    )


def run_month_and_check(
    stack: Stack, world: SeededDatabase, smtp_server: SmtpTestServer, tmp_path
) -> dict:
    """POST a run, poll it to SUCCESS, check every learner got exactly one message."""
    begun = time.perf_counter()
    status, body, _ = post_month(stack, world)
    assert status == 202, body
    task_id = body["task_id"]

    def finished():
        code, data, _ = stack.api("GET", f"/scheduled/task-status/{task_id}", world.token)
        assert code == 200, data
        return data if data["state"] in ("SUCCESS", "FAILURE") else None

    data = eventually(
        finished, timeout=90, interval=0.2, message=lambda: f"run did not finish\n{stack.logs()}"
    )
    elapsed = time.perf_counter() - begun
    print(f"\n{world.learners} learners: POST to SUCCESS in {elapsed:.2f} s")
    assert data["state"] == "SUCCESS", data
    summary = data["result"]["summary"]
    got = received_by_address(smtp_server)[0]
    assert set(got) == set(world.emails), stack.logs()
    assert max(got.values()) == 1, "a learner was mailed twice"
    assert summary["successful"] == len(smtp_server.messages) == world.learners
    assert summary["failed"] == 0 and summary["success_rate"] == 100.0

    # The ledger agrees: every delivery sent, none left in flight.
    ledger = LedgerView(tmp_path, world.url)
    try:
        assert dict(ledger.states()) == {"sent": world.learners}
    finally:
        ledger.close()

    # Starting the finished month again mails nobody twice: nothing to send, no run.
    status, body, _ = post_month(stack, world)
    assert status == 200 and body["total"] == 0 and body["task_id"] is None
    stays_true(lambda: len(smtp_server.messages) == world.learners, seconds=1)
    assert len(smtp_server.messages) == world.learners
    return data


def sqlite_url(tmp_path) -> str:
    """The test's own SQLite database, shared by its processes."""
    return f"sqlite:///{tmp_path / 'test.sqlite3'}"


@pytest.mark.consumer
def test_run_on_the_embedded_sqlite_queue(tmp_path, smtp_server, stacks):
    world = seed_database(tmp_path, sqlite_url(tmp_path), LEARNERS)
    env = queue_env(tmp_path, smtp_server, world.url, REPORT_CHUNK_SIZE="25")
    stack = started(stacks, env)
    run_month_and_check(stack, world, smtp_server, tmp_path)


@pytest.mark.consumer
@pytest.mark.redis
def test_run_on_redis_with_two_consumers_sharing_chunks(tmp_path, smtp_server, stacks, redis_queue):
    world = seed_database(tmp_path, sqlite_url(tmp_path), LEARNERS)
    env = queue_env(tmp_path, smtp_server, world.url, redis_queue, REPORT_CHUNK_SIZE="5")
    stack = started(stacks, env, consumers=2)
    run_month_and_check(stack, world, smtp_server, tmp_path)
    logs = [p.log() for p in stack.consumers.values()]
    assert all("send_report_chunk" in log for log in logs), "both consumers should take chunks"


@pytest.mark.consumer
@pytest.mark.redis
@pytest.mark.postgres
def test_run_on_postgresql_and_redis(tmp_path, smtp_server, stacks, redis_queue, postgres_url):
    world = seed_database(tmp_path, postgres_url, LEARNERS)
    env = queue_env(tmp_path, smtp_server, world.url, redis_queue, REPORT_CHUNK_SIZE="20")
    stack = started(stacks, env)
    run_month_and_check(stack, world, smtp_server, tmp_path)


@pytest.mark.consumer
@pytest.mark.redis
def test_rate_limit_holds_across_two_consumers(tmp_path, smtp_server, stacks, redis_queue):
    world = seed_database(tmp_path, sqlite_url(tmp_path), learners=40)
    env = queue_env(
        tmp_path,
        smtp_server,
        world.url,
        redis_queue,
        REPORT_CHUNK_SIZE="5",
        MAIL_RATE_PER_SECOND="10",
    )
    stack = started(stacks, env, consumers=2)
    run_month_and_check(stack, world, smtp_server, tmp_path)
    times = sorted(m.time for m in smtp_server.messages)
    # 40 messages at 10 a second: at least 3.9 s from first to last, and no second of
    # arrivals holds more than the rate plus the one-message burst.
    assert times[-1] - times[0] >= 3.5
    worst = max(sum(1 for t in times if start <= t < start + 1) for start in times)
    assert worst <= 11 + 1, f"{worst} messages arrived within one second"


@pytest.mark.consumer
def test_worker_meeting_a_locked_database_retries_later_and_finishes(tmp_path, smtp_server, stacks):
    path = tmp_path / "test.sqlite3"
    world = seed_database(tmp_path, f"sqlite:///{path}", learners=20)
    env = queue_env(
        tmp_path, smtp_server, world.url, DATABASE_BUSY_TIMEOUT="0.5", TASK_RETRY_DELAY="1"
    )
    stack = stacks(env)
    stack.start_web()
    status, body, _ = post_month(stack, world)
    assert status == 202, body
    # Another program holds the write lock while the worker picks the run up.
    lock = sqlite3.connect(path, timeout=5)
    lock.execute("BEGIN EXCLUSIVE")
    consumer = stack.start_consumer("consumer0")
    # The run's task fails on the lock and is put back for a later try.
    eventually(
        lambda: "Requeueing" in consumer.log(),
        timeout=20,
        message="the worker never met the lock",
    )
    assert smtp_server.messages == []
    lock.rollback()
    lock.close()

    def finished():
        code, data, _ = stack.api("GET", f"/scheduled/task-status/{body['task_id']}", world.token)
        return data if data["state"] == "SUCCESS" else None

    data = eventually(finished, timeout=30, message=stack.logs)
    assert data["result"]["summary"]["successful"] == 20
    got = received_by_address(smtp_server)[0]
    assert max(got.values()) == 1 and len(smtp_server.messages) == 20
    assert "Unhandled exception in task" in consumer.log()
