"""Harness of the fault-injection suite: a world of learners, the real stack, and the invariants.

Every scenario runs a month for a few hundred learners through real processes (huey_consumer,
the web app under Werkzeug, Redis, an aiosmtpd server over TCP), injects one fault, lets the
product recover, and ends with check_invariants(): each learner mailed exactly once (or marked
`unknown` with at most one message), nothing left in flight, the run's counts equal to the
ledger, and the API's summary equal to what the SMTP server received.
"""

import atexit
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import asdict
from dataclasses import dataclass
from email import message_from_bytes
from email.utils import parseaddr
from pathlib import Path

import pytest
import redis
from huey import RedisHuey
from huey import SqliteHuey
from sqlalchemy import func
from sqlalchemy import select

from tests.conftest import make_test_config
from tests.harness import api
from tests.harness import free_port
from tests.harness import stack_env
from tests.harness import start_consumer
from tests.harness import start_web
from tests.harness import wait_until
from tests.test_queue import prepare_database
from webapp.app import create_app
from webapp.core.clock import utcnow
from webapp.core.context import Context
from webapp.core.models import Delivery
from webapp.core.models import ReportRun
from webapp.core.models import User
from webapp.core.months import Month
from webapp.web.services import get_session

LEARNERS = 240
CHUNK = 25
# Short enough that a scenario recovers in seconds, long enough that a healthy send never
# outlives its claim on this 2-core machine.
LEASE_SECONDS = 3
STALL_SECONDS = 2


# --------------------------------------------------------------------------------------------
# The world: learners with two months of attempts and an admin's API token, built once.


@dataclass
class World:
    """The test's database (a copy of the session's template) and who is in it."""

    url: str
    token: str
    month: str
    emails: dict[str, int]  # learner address -> user id

    @property
    def learners(self) -> int:
        return len(self.emails)


_TEMPLATE: dict = {}


def _world_template() -> dict:
    """Seed LEARNERS learners once per test session; each scenario gets a copy of the file."""
    if not _TEMPLATE:
        path = Path(tempfile.mkdtemp(prefix="quiz-reports-faults-"))
        atexit.register(shutil.rmtree, path, ignore_errors=True)
        url = f"sqlite:///{path / 'world.sqlite3'}"
        made = prepare_database(path, url, learners=LEARNERS)
        emails = _learner_ids(path, url)
        # Closing the last connection checkpointed the WAL: the main file is the whole database.
        assert not (path / "world.sqlite3-wal").exists()
        _TEMPLATE.update(file=path / "world.sqlite3", token=made["token"], emails=emails)
    return _TEMPLATE


def make_world(tmp_path: Path, database_url: str | None = None) -> World:
    """A private copy of the seeded database for one scenario, or a world seeded afresh in
    the (empty) database at database_url, e.g. PostgreSQL."""
    if database_url is not None:
        made = prepare_database(tmp_path, database_url, learners=LEARNERS)
        return World(
            url=database_url,
            token=made["token"],
            month=str(Month.last_full()),
            emails=_learner_ids(tmp_path, database_url),
        )
    template = _world_template()
    target = tmp_path / "test.sqlite3"
    shutil.copyfile(template["file"], target)
    return World(
        url=f"sqlite:///{target}",
        token=template["token"],
        month=str(Month.last_full()),
        emails=dict(template["emails"]),
    )


def _learner_ids(tmp_path: Path, url: str) -> dict[str, int]:
    """Learner address (lower case) -> user id."""
    app = create_app(make_test_config(tmp_path, DATABASE_URL=url))
    with app.app_context():
        rows = get_session().execute(select(User.email, User.id).where(User.role == "user"))
        ids = {email.lower(): uid for email, uid in rows}
    app.extensions["runtime"].close()
    return ids


class LedgerView:
    """Read (and, for a scenario's admin actions, write) the shared database in-process."""

    def __init__(self, tmp_path: Path, url: str):
        self.app = create_app(make_test_config(tmp_path, DATABASE_URL=url))

    @contextmanager
    def session(self):
        with self.app.app_context():
            yield get_session()

    @contextmanager
    def context(self):
        """A core context on the shared database, as a task gets one."""
        with self.session() as session:
            rt = self.app.extensions["runtime"]
            yield Context(session=session, settings=rt.settings, store=rt.kv)

    def run(self, task_id: str) -> ReportRun:
        with self.session() as s:
            return s.scalar(select(ReportRun).where(ReportRun.task_id == task_id))

    def states(self, run_id: int | None = None) -> Counter:
        with self.session() as s:
            q = select(Delivery.state, func.count()).group_by(Delivery.state)
            if run_id is not None:
                q = q.where(Delivery.run_id == run_id)
            return Counter(dict(s.execute(q).all()))

    def deliveries(self, month: str) -> dict[str, Delivery]:
        """The month's ledger rows by learner address."""
        with self.session() as s:
            rows = s.execute(
                select(User.email, Delivery)
                .join(User, User.id == Delivery.user_id)
                .where(Delivery.month == month)
            ).all()
            return {email.lower(): d for email, d in rows}

    def count_runs(self) -> int:
        with self.session() as s:
            return s.scalar(select(func.count()).select_from(ReportRun))

    def quiet_for(self, seconds: float) -> bool:
        """No delivery holds a live claim and nothing in the ledger changed for `seconds`."""
        now = utcnow()
        with self.session() as s:
            live = s.scalar(
                select(func.count())
                .select_from(Delivery)
                .where(Delivery.state == "sending", Delivery.lease_until >= now)
            )
            last = s.scalar(select(func.max(Delivery.updated_at)))
        return live == 0 and (last is None or (now - last).total_seconds() > seconds)

    def close(self):
        self.app.extensions["runtime"].close()


# --------------------------------------------------------------------------------------------
# Processes: a Redis server of the test's own, the stack, and a doorbell to its queue.


class RedisServer:
    """`redis-server` on a free loopback port in the test's directory; stop and start again."""

    def __init__(self, directory: Path, *, appendonly: bool):
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.appendonly = appendonly
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        self.starts += 1
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--dir", str(self.dir), "--save", "", "--daemonize", "no"]
        argv += ["--logfile", str(self.dir / f"redis-{self.starts}.log")]
        if self.appendonly:
            argv += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            argv += ["--appendonly", "no"]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_until(self.ping, timeout=10, message="redis-server did not start")
        return self

    def ping(self) -> bool:
        try:
            client = redis.Redis(port=self.port, socket_timeout=0.5)
            try:
                return bool(client.ping())
            finally:
                client.close()
        except redis.RedisError:
            return False

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port)

    def shutdown(self) -> None:
        """SHUTDOWN (the AOF is flushed) or SHUTDOWN NOSAVE (everything in memory is gone)."""
        client = self.client()
        try:
            client.shutdown(nosave=not self.appendonly, save=False)
        except redis.ConnectionError:
            pass  # the server closes the connection as it goes
        finally:
            client.close()
        assert self.proc is not None
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)


class Doorbell:
    """Ring the product's tasks from the test process, by name, into the stack's own queue.

    The stub functions never run here; a consumer looks the name up in its registry
    (`tasks.<name>`) and runs the real task.
    """

    def __init__(self, env: dict):
        name = env.get("HUEY_NAME", "quiz-reports")
        if env.get("REDIS_URL"):
            self.huey = RedisHuey(name, url=env["REDIS_URL"])
        else:
            self.huey = SqliteHuey(name, filename=env["HUEY_SQLITE_PATH"])
        self.send_report_chunk = self._stub("send_report_chunk")
        self.process_all_reports = self._stub("process_all_reports")
        self.reap_now = self._stub("reap_now")

    def _stub(self, name: str):
        def stub(*args, **kwargs):
            raise AssertionError("only a consumer runs this")

        stub.__module__, stub.__name__ = "tasks", name
        return self.huey.task(name=name)(stub)


class FaultStack:
    """The web app and named consumers of one scenario, each restartable with other settings."""

    def __init__(self, tmp_path: Path, env: dict):
        self.tmp_path, self.env = tmp_path, env
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.consumers: dict = {}
        self.web = None
        self.history: list = []
        self._generation = Counter()

    def start_consumer(self, name: str, *, periodic: bool = True, workers: int = 2, **env):
        """Start (or restart) consumer `name`; only periodic ones run the reaper's schedule."""
        old = self.consumers.get(name)
        if old is not None and old.proc.poll() is None:
            raise AssertionError(f"{name} is still running")
        self._generation[name] += 1
        merged = {**self.env, **{k: str(v) for k, v in env.items()}}
        label = name if self._generation[name] == 1 else f"{name}-{self._generation[name]}"
        extra = ("-w", str(workers), *(() if periodic else ("-n",)))
        proc = start_consumer(merged, self.tmp_path, label, *extra)
        self.consumers[name] = proc
        self.history.append(proc)
        return proc

    def periodic_reaps(self) -> int:
        """How many times the periodic reaper has fired so far (in the consumers' logs)."""
        return sum(p.log().count("Executing tasks.reap:") for p in self.history)

    def wait_ready(self, timeout: float = 30) -> None:
        """Wait until every running consumer has started its workers."""
        for name, proc in self.consumers.items():
            try:
                wait_until(lambda p=proc: "Huey consumer started" in p.log(), timeout=timeout)
            except AssertionError:
                pytest.fail(f"{name} did not start\n{self.logs()}")

    def start_web(self, **env):
        merged = {**self.env, **{k: str(v) for k, v in env.items()}}
        self.web = start_web(merged, self.tmp_path, self.port)
        self.history.append(self.web)
        return self.web

    def api(self, method: str, path: str, token: str, body=None):
        return api(self.base, method, path, token, body)

    def wait_killed(self, name: str, timeout: float = 60) -> int:
        """Wait for a consumer that SIGKILLs itself at its fault point; its return code."""
        proc = self.consumers[name].proc
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{name} never reached its fault point\n{self.logs()}")
        self.consumers[name].stop()  # closes the log
        return proc.returncode

    def stop(self):
        for proc in self.history:
            proc.stop()

    def logs(self, tail: int = 3000) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.log()[-tail:]}" for p in self.history)


class Scenario:
    """One scenario: its world, a view of the ledger, its stacks, servers and invariants.

    Test modules build one per test in a fixture and call close() at the end.
    """

    def __init__(self, tmp_path: Path, smtp_server, queue: tuple[str, str], database_url=None):
        self.tmp_path, self.smtp, self.queue = tmp_path, smtp_server, queue
        self.world = make_world(tmp_path, database_url)
        self.ledger = LedgerView(tmp_path, self.world.url)
        self.stacks: list[FaultStack] = []
        self.redis_servers: list[RedisServer] = []
        self.started = time.perf_counter()

    def env(self, **extra) -> dict:
        """Settings of the scenario: small chunks, short leases, fast retries, a quick reaper."""
        redis_url, name = self.queue
        settings = dict(
            DATABASE_URL=self.world.url,
            REDIS_URL=redis_url,
            HUEY_NAME=name,
            REPORT_CHUNK_SIZE=str(CHUNK),
            LEASE_SECONDS=str(LEASE_SECONDS),
            REAPER_STALL_SECONDS=str(STALL_SECONDS),
            RETRY_BASE_SECONDS="0.2",
            SMTP_TIMEOUT="2",
        )
        settings.update({k: str(v) for k, v in extra.items()})
        return stack_env(self.tmp_path, self.smtp.port, **settings)

    def stack(self, env: dict | None = None) -> FaultStack:
        stack = FaultStack(self.tmp_path, env or self.env())
        self.stacks.append(stack)
        return stack

    def standard_stack(self, **extra) -> FaultStack:
        """Two consumers (the first runs the periodic reaper, the second -n) and the web app."""
        stack = self.stack(self.env(**extra))
        stack.start_consumer("consumer0", periodic=True)
        stack.start_consumer("consumer1", periodic=False)
        stack.start_web()
        stack.wait_ready()
        return stack

    def own_redis(self, *, appendonly: bool) -> RedisServer:
        """A Redis server of this scenario's own; the scenario's queue moves to it."""
        server = RedisServer(
            self.tmp_path / f"redis{len(self.redis_servers)}", appendonly=appendonly
        )
        self.redis_servers.append(server.start())
        self.queue = (server.url, "faults")
        return server

    def doorbell(self, stack: FaultStack) -> Doorbell:
        return Doorbell(stack.env)

    # The API, as a script or an admin uses it.

    def post_run(self, stack: FaultStack):
        return stack.api(
            "POST",
            "/scheduled/generate-all-monthly-reports",
            self.world.token,
            {"month_year": self.world.month},
        )

    def start_run(self, stack: FaultStack) -> str:
        """POST the month's run for everyone; its task id."""
        status, body, _ = self.post_run(stack)
        assert status == 202, (status, body)
        assert body["total"] == self.world.learners, body
        return body["task_id"]

    def resend(self, stack: FaultStack, user_id: int):
        return stack.api(
            "POST",
            "/scheduled/generate-user-report",
            self.world.token,
            {"user_id": user_id, "month_year": self.world.month},
        )

    def task_status(self, stack: FaultStack, task_id: str) -> dict:
        code, data, _ = stack.api("GET", f"/scheduled/task-status/{task_id}", self.world.token)
        assert code == 200, (code, data)
        return data

    def wait_finished(self, stack: FaultStack, task_id: str, timeout: float = 60) -> dict:
        """Poll task-status until the run is SUCCESS or FAILURE."""

        def finished():
            data = self.task_status(stack, task_id)
            return data if data["state"] in ("SUCCESS", "FAILURE") else None

        try:
            return wait_until(finished, timeout=timeout, interval=0.25)
        except AssertionError:
            pytest.fail(f"run {task_id} did not finish within {timeout} s\n{stack.logs()}")

    def wait_state(self, stack: FaultStack, task_id: str, run_state: str, timeout=30) -> dict:
        def reached():
            data = self.task_status(stack, task_id)
            return data if data["run_state"] == run_state else None

        try:
            return wait_until(reached, timeout=timeout, interval=0.1)
        except AssertionError:
            pytest.fail(f"run {task_id} never became {run_state}\n{stack.logs()}")

    def wait_quiet(self, stack: FaultStack, timeout: float = 40) -> None:
        """Wait until every claim expired and the run shows no progress: the reaper's cue."""
        try:
            wait_until(
                lambda: self.ledger.quiet_for(STALL_SECONDS + 0.5), timeout=timeout, interval=0.2
            )
        except AssertionError:
            pytest.fail(f"the ledger never went quiet\n{stack.logs()}")

    def wait_messages(self, count: int, timeout: float = 30) -> None:
        wait_until(lambda: len(self.smtp.messages) >= count, timeout=timeout, interval=0.02)

    def check(self, name: str, stack: FaultStack, task_id: str, **expect) -> "Figures":
        """The invariants (see check_invariants); records the scenario's figures."""
        return check_invariants(
            name,
            stack,
            self.world,
            self.smtp,
            self.ledger,
            task_id,
            started=self.started,
            **expect,
        )

    def assert_no_more_mail(self, stack: FaultStack, wait: float = 1.5, retaken: int = 0) -> None:
        """Nothing goes out later on its own, and a new start of the month mails nobody.

        retaken: failed deliveries a new start takes over (they fail again, mailing nobody).
        """
        before = len(self.smtp.messages)
        status, body, _ = self.post_run(stack)
        assert status == 202 and body["total"] == retaken, body
        time.sleep(wait)
        assert len(self.smtp.messages) == before, "mail went out after the run was done"

    def close(self) -> None:
        for stack in self.stacks:
            stack.stop()
        for server in self.redis_servers:
            server.stop()
        self.ledger.close()


def concurrently(n: int, fn) -> list:
    """Call fn(i) from n threads released at the same instant; the results in order."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def worker(i):
        barrier.wait()
        results[i] = fn(i)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


# --------------------------------------------------------------------------------------------
# The invariants, and the figures each scenario reports.


@dataclass
class Figures:
    """One row of the suite's table."""

    scenario: str
    learners: int
    received: int
    duplicates: int
    lost: int
    failed: int = 0
    unknown: int = 0
    unknown_received: int = 0
    resent: int = 0
    retried: int = 0
    seconds: float = 0.0


FIGURES: list[Figures] = []


def record(figures: Figures) -> Figures:
    """Keep the row for the suite's table (printed, and written to $FAULTS_TABLE if set)."""
    FIGURES.append(figures)
    print(f"\nFAULTS {json.dumps(asdict(figures))}")
    target = os.environ.get("FAULTS_TABLE")
    if target:
        Path(target).write_text(render_table(FIGURES))
    return figures


def render_table(rows: list[Figures]) -> str:
    """The suite's table in Markdown."""
    head = "| scenario | learners | messages received | duplicates | lost | failed | unknown |"
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        unknown = f"{r.unknown} ({r.unknown_received} received)" if r.unknown else "0"
        lines.append(
            f"| {r.scenario} | {r.learners} | {r.received} | {r.duplicates} | {r.lost} "
            f"| {r.failed} | {unknown} |"
        )
    return "\n".join(lines) + "\n"


def received_by_address(smtp_server) -> tuple[Counter, dict[str, set[str]]]:
    """Messages at the server by their To address, and the Message-IDs each address got."""
    counts: Counter = Counter()
    ids: dict[str, set[str]] = {}
    for m in list(smtp_server.messages):
        parsed = message_from_bytes(m.data)
        to = parseaddr(parsed["To"])[1].lower()
        counts[to] += 1
        ids.setdefault(to, set()).add(parsed["Message-ID"])
    return counts, ids


def check_invariants(
    scenario: str,
    stack: FaultStack,
    world: World,
    smtp_server,
    ledger: LedgerView,
    task_id: str,
    *,
    failed: dict[str, int] | None = None,
    unknown: int | None = None,
    resent: Counter | None = None,
    started: float | None = None,
) -> Figures:
    """The suite's invariants after a scenario; returns (and records) its figures.

    failed: addresses expected to fail for good, with the SMTP code the ledger must keep.
    unknown: how many deliveries must be `unknown` (None: any number, each with <= 1 message).
    resent: addresses an admin's Resend mailed again on purpose, and how many times.
    """
    failed = {a.lower(): c for a, c in (failed or {}).items()}
    resent = resent or Counter()
    code, data, _ = stack.api("GET", f"/scheduled/task-status/{task_id}", world.token)
    assert code == 200, (code, data)
    assert data["state"] == "SUCCESS", (data, stack.logs())
    run = ledger.run(task_id)
    assert run.state == "done", run.state
    rows = ledger.deliveries(world.month)
    counts, message_ids = received_by_address(smtp_server)

    # Nobody outside the world was mailed; every learner has a ledger row, none in flight.
    assert set(counts) <= set(world.emails), set(counts) - set(world.emails)
    assert set(rows) == set(world.emails), "a learner has no delivery row"
    in_flight = {a: d.state for a, d in rows.items() if d.state in ("pending", "sending")}
    assert not in_flight, f"deliveries left in flight: {in_flight}"

    duplicates = lost = retried = unknown_rows = unknown_received = 0
    for address, d in rows.items():
        got = counts[address] - resent[address]
        retried += d.attempts > 1
        if address in message_ids:
            # One Message-ID per delivery, whatever happened: receivers can drop a duplicate.
            assert message_ids[address] == {d.message_id}, (address, message_ids[address])
        if address in failed:
            assert d.state == "failed", (address, d.state, d.last_error)
            assert d.smtp_code == failed[address], (address, d.smtp_code, d.last_error)
            assert str(failed[address]) in (d.last_error or ""), d.last_error
            assert got == 0, f"{address} failed for good yet received {got}"
        elif d.state == "sent":
            duplicates += max(got - 1, 0)
            lost += got == 0
        elif d.state == "unknown":
            unknown_rows += 1
            unknown_received += got
            duplicates += max(got - 1, 0)
        else:
            lost += 1
    detail = {a: (d.state, counts[a], d.last_error) for a, d in rows.items()}
    bad = {a: v for a, v in detail.items() if v[0] not in ("sent", "unknown") and a not in failed}
    assert not bad, f"deliveries that ended badly: {bad}\n{stack.logs()}"
    assert duplicates == 0, f"{duplicates} duplicate(s)\n{stack.logs()}"
    assert lost == 0, f"{lost} learner(s) marked sent received nothing\n{stack.logs()}"
    if unknown is not None:
        assert unknown_rows == unknown, (unknown_rows, unknown, stack.logs())

    # The run's frozen counts equal its ledger; the API's summary equals both and the server.
    of_run = ledger.states(run.id)
    frozen = {s: getattr(run, s) for s in ("sent", "failed", "unknown", "skipped", "cancelled")}
    assert frozen == {s: of_run[s] for s in frozen}, (frozen, dict(of_run))
    assert run.total == sum(of_run.values())
    summary = data["result"]["summary"]
    assert summary["successful"] == run.sent
    assert summary["failed"] == run.failed == len(failed)
    assert summary["unknown"] == run.unknown
    # Every message at the server is accounted for: a success of this run, a delivery of
    # unknown outcome, a Resend, or a learner another run (a Resend) mailed.
    sent_in_run = {a for a, d in rows.items() if d.run_id == run.id and d.state == "sent"}
    assert summary["successful"] == sum(counts[a] - resent[a] for a in sent_in_run)
    elsewhere = sum(
        counts[a] - resent[a]
        for a, d in rows.items()
        if d.run_id != run.id and d.state != "unknown"
    )
    assert len(smtp_server.messages) == (
        summary["successful"] + unknown_received + sum(resent.values()) + elsewhere
    ), (len(smtp_server.messages), summary, unknown_received, elsewhere)

    return record(
        Figures(
            scenario=scenario,
            learners=world.learners,
            received=len(smtp_server.messages),
            duplicates=duplicates,
            lost=lost,
            failed=len(failed),
            unknown=unknown_rows,
            unknown_received=unknown_received,
            resent=sum(resent.values()),
            retried=retried,
            seconds=round(time.perf_counter() - started, 1) if started else 0.0,
        )
    )
