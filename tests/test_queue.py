"""Runs through a real huey_consumer process and the web app, on each supported backend."""

import time
from collections import Counter
from email import message_from_bytes
from email.utils import parseaddr

import pytest
from sqlalchemy import func
from sqlalchemy import select

from tests.conftest import make_test_config
from tests.factories import make_admin
from tests.harness import api
from tests.harness import free_port
from tests.harness import stack_env
from tests.harness import start_consumer
from tests.harness import start_web
from tests.harness import wait_until
from webapp.app import create_app
from webapp.core import demo
from webapp.core.models import Delivery
from webapp.core.models import User
from webapp.core.models import create_tables
from webapp.core.months import Month
from webapp.core.tokens import create_token
from webapp.web.services import get_session
from webapp.web.services import runtime

LEARNERS = 60


def prepare_database(tmp_path, database_url: str, learners: int = LEARNERS) -> dict:
    """Tables, demo learners and an admin token, written in-process to the shared database."""
    app = create_app(make_test_config(tmp_path, DATABASE_URL=database_url))
    with app.app_context():
        create_tables(runtime().engine)
        session = get_session()
        demo.seed(session, users=learners, months=2, seed=3, attempts=6)
        admin = make_admin(session)
        session.commit()
        token = create_token(session, admin)[1]
        emails = set(session.scalars(select(User.email).where(User.role == "user")))
    app.extensions["runtime"].close()
    return {"app": app, "token": token, "emails": emails}


def queue_env(tmp_path, smtp_server, database_url: str, redis_queue=None, **extra) -> dict:
    """The processes' environment: this test's database, and its queue on SQLite or Redis."""
    if redis_queue:
        url, name = redis_queue
        queue = {"REDIS_URL": url, "HUEY_NAME": name}
    else:
        queue = {"HUEY_SQLITE_PATH": str(tmp_path / "queue.sqlite3")}
    env = stack_env(tmp_path, smtp_server.port, DATABASE_URL=database_url, **queue, **extra)
    if not redis_queue:
        env.pop("REDIS_URL", None)
    return env


class Stack:
    """Web app and consumer(s) of one test, stopped (and their logs shown) at the end."""

    def __init__(self, tmp_path, env):
        self.tmp_path, self.env, self.procs = tmp_path, env, []
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"

    def start(self, consumers: int = 1):
        for i in range(consumers):
            # Only the first consumer runs periodic tasks (the reaper); the rest take -n.
            extra = () if i == 0 else ("-n",)
            self.procs.append(start_consumer(self.env, self.tmp_path, f"consumer{i}", *extra))
        self.procs.append(start_web(self.env, self.tmp_path, self.port))
        return self

    def stop(self):
        for p in self.procs:
            p.stop()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.log()[-4000:]}" for p in self.procs)


@pytest.fixture
def stack(tmp_path):
    stacks = []

    def make(env, consumers=1):
        s = Stack(tmp_path, env).start(consumers)
        stacks.append(s)
        return s

    yield make
    for s in stacks:
        s.stop()


def recipients(smtp_server) -> Counter:
    return Counter(parseaddr(message_from_bytes(m.data)["To"])[1] for m in smtp_server.messages)


def run_month_and_check(stack: Stack, world: dict, smtp_server, database_url: str, tmp_path):
    """POST a run, poll it to SUCCESS, check every learner got exactly one message."""
    month = str(Month.last_full())
    started = time.perf_counter()
    status, body, _ = api(
        stack.base,
        "POST",
        "/scheduled/generate-all-monthly-reports",
        world["token"],
        {"month_year": month},
    )
    assert status == 202, body
    task_id = body["task_id"]

    def finished():
        code, data, _ = api(stack.base, "GET", f"/scheduled/task-status/{task_id}", world["token"])
        assert code == 200, data
        return data if data["state"] in ("SUCCESS", "FAILURE") else None

    try:
        data = wait_until(finished, timeout=90, interval=0.2)
    except AssertionError:
        pytest.fail(f"run did not finish\n{stack.logs()}")
    elapsed = time.perf_counter() - started
    print(f"\n{len(world['emails'])} learners: POST to SUCCESS in {elapsed:.2f} s")
    assert data["state"] == "SUCCESS", data
    summary = data["result"]["summary"]
    got = recipients(smtp_server)
    assert set(got) == world["emails"], stack.logs()
    assert max(got.values()) == 1, "a learner was mailed twice"
    assert summary["successful"] == len(smtp_server.messages) == len(world["emails"])
    assert summary["failed"] == 0 and summary["success_rate"] == 100.0

    # The ledger agrees: every delivery sent, none left in flight.
    app = create_app(make_test_config(tmp_path, DATABASE_URL=database_url))
    with app.app_context():
        states = dict(
            get_session()
            .execute(select(Delivery.state, func.count()).group_by(Delivery.state))
            .all()
        )
    app.extensions["runtime"].close()
    assert states == {"sent": len(world["emails"])}

    # Starting the finished month again mails nobody twice.
    status, body, _ = api(
        stack.base,
        "POST",
        "/scheduled/generate-all-monthly-reports",
        world["token"],
        {"month_year": month},
    )
    assert status == 202 and body["total"] == 0
    time.sleep(1)
    assert len(smtp_server.messages) == len(world["emails"])
    return data


@pytest.mark.consumer
def test_run_on_the_embedded_sqlite_queue(tmp_path, smtp_server, stack):
    url = f"sqlite:///{tmp_path / 'test.sqlite3'}"
    world = prepare_database(tmp_path, url)
    env = queue_env(tmp_path, smtp_server, url, REPORT_CHUNK_SIZE="25")
    s = stack(env)
    run_month_and_check(s, world, smtp_server, url, tmp_path)


@pytest.mark.consumer
@pytest.mark.redis
def test_run_on_redis_with_two_consumers_sharing_chunks(tmp_path, smtp_server, stack, redis_queue):
    url = f"sqlite:///{tmp_path / 'test.sqlite3'}"
    world = prepare_database(tmp_path, url)
    env = queue_env(tmp_path, smtp_server, url, redis_queue, REPORT_CHUNK_SIZE="5")
    s = stack(env, consumers=2)
    run_month_and_check(s, world, smtp_server, url, tmp_path)
    logs = [p.log() for p in s.procs if p.name.startswith("consumer")]
    assert all("send_report_chunk" in log for log in logs), "both consumers should take chunks"


@pytest.mark.consumer
@pytest.mark.redis
@pytest.mark.postgres
def test_run_on_postgresql_and_redis(tmp_path, smtp_server, stack, redis_queue, postgres_url):
    world = prepare_database(tmp_path, postgres_url)
    env = queue_env(tmp_path, smtp_server, postgres_url, redis_queue, REPORT_CHUNK_SIZE="20")
    s = stack(env)
    run_month_and_check(s, world, smtp_server, postgres_url, tmp_path)


@pytest.mark.consumer
@pytest.mark.redis
def test_rate_limit_holds_across_two_consumers(tmp_path, smtp_server, stack, redis_queue):
    url = f"sqlite:///{tmp_path / 'test.sqlite3'}"
    world = prepare_database(tmp_path, url, learners=40)
    env = queue_env(
        tmp_path, smtp_server, url, redis_queue, REPORT_CHUNK_SIZE="5", MAIL_RATE_PER_SECOND="10"
    )
    s = stack(env, consumers=2)
    run_month_and_check(s, world, smtp_server, url, tmp_path)
    times = sorted(m.time for m in smtp_server.messages)
    # 40 messages at 10 a second: at least 3.9 s from first to last, and no second of
    # arrivals holds more than the rate plus the one-message burst.
    assert times[-1] - times[0] >= 3.5
    worst = max(sum(1 for t in times if start <= t < start + 1) for start in times)
    assert worst <= 11 + 1, f"{worst} messages arrived within one second"


@pytest.mark.consumer
def test_worker_meeting_a_locked_database_retries_later_and_finishes(tmp_path, smtp_server, stack):
    import sqlite3

    path = tmp_path / "test.sqlite3"
    url = f"sqlite:///{path}"
    world = prepare_database(tmp_path, url, learners=20)
    env = queue_env(tmp_path, smtp_server, url, DATABASE_BUSY_TIMEOUT="0.5", TASK_RETRY_DELAY="1")
    s = Stack(tmp_path, env)
    s.procs.append(start_web(env, tmp_path, s.port))
    try:
        status, body, _ = api(
            s.base,
            "POST",
            "/scheduled/generate-all-monthly-reports",
            world["token"],
            {"month_year": str(Month.last_full())},
        )
        assert status == 202, body
        # Another program holds the write lock while the worker picks the run up.
        lock = sqlite3.connect(path, timeout=5)
        lock.execute("BEGIN EXCLUSIVE")
        s.procs.append(start_consumer(env, tmp_path, "consumer0"))
        # The run's task fails on the lock and is put back for a later try.
        wait_until(
            lambda: "Requeueing" in s.procs[-1].log(),
            timeout=20,
            message="the worker never met the lock",
        )
        assert smtp_server.messages == []
        lock.rollback()
        lock.close()

        def finished():
            code, data, _ = api(
                s.base, "GET", f"/scheduled/task-status/{body['task_id']}", world["token"]
            )
            return data if data["state"] == "SUCCESS" else None

        data = wait_until(finished, timeout=30, message=s.logs())
        assert data["result"]["summary"]["successful"] == 20
        assert max(recipients(smtp_server).values()) == 1 and len(smtp_server.messages) == 20
        assert "Unhandled exception in task" in s.procs[-1].log()
    finally:
        s.stop()
