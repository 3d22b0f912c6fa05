"""The scenario harness of the fault-injection suite (tests/faults/).

Every scenario runs a month for a few hundred learners through real processes (huey_consumer,
the web app under Werkzeug, Redis, an aiosmtpd server over TCP), injects one fault, lets the
product recover, and ends with the invariants of tests/helpers/invariants.py.
"""

import atexit
import shutil
import tempfile
import threading
import time
from pathlib import Path

from tests.helpers import backends
from tests.helpers.doorbell import Doorbell
from tests.helpers.factories import SeededDatabase
from tests.helpers.factories import seed_database
from tests.helpers.invariants import Figures
from tests.helpers.invariants import check_invariants
from tests.helpers.ledger import LedgerView
from tests.helpers.redis_server import RedisServer
from tests.helpers.smtp import SmtpTestServer
from tests.helpers.stack import Stack
from tests.helpers.stack import process_env
from tests.helpers.waiting import eventually
from tests.helpers.waiting import stays_true
from webapp.core import actions

LEARNERS = 240
CHUNK = 25
# Short enough that a scenario recovers in seconds, long enough that a healthy send never
# outlives its claim on this 2-core machine.
LEASE_SECONDS = 3
STALL_SECONDS = 2

_TEMPLATE: dict = {}


def _world_template() -> SeededDatabase:
    """Seed LEARNERS learners once per test session; each scenario gets a copy of the file."""
    if not _TEMPLATE:
        path = Path(tempfile.mkdtemp(prefix="quiz-reports-faults-"))
        atexit.register(shutil.rmtree, path, ignore_errors=True)
        seeded = seed_database(path, f"sqlite:///{path / 'world.sqlite3'}", LEARNERS)
        # Closing the last connection checkpointed the WAL: the main file is the whole database.
        assert not (path / "world.sqlite3-wal").exists()
        _TEMPLATE.update(file=path / "world.sqlite3", seeded=seeded)
    return _TEMPLATE["seeded"]


def make_world(
    tmp_path: Path, database_url: str | None = None, learners: int = LEARNERS
) -> SeededDatabase:
    """A private copy of the seeded SQLite database for one scenario, or a world seeded
    afresh: at database_url, on PostgreSQL when the session runs there, or of another size."""
    if database_url is None and (learners != LEARNERS or backends.on_servers()):
        database_url = backends.database(tmp_path)
    if database_url is not None:
        return seed_database(tmp_path, database_url, learners)
    template = _world_template()
    target = tmp_path / "test.sqlite3"
    shutil.copyfile(_TEMPLATE["file"], target)
    return SeededDatabase(
        url=f"sqlite:///{target}", token=template.token, emails=dict(template.emails)
    )


class Scenario:
    """One scenario: its world, a view of the ledger, its stacks, servers and invariants.

    The `sc` fixture (tests/faults/conftest.py) builds one per test and closes it afterwards.
    """

    def __init__(
        self,
        tmp_path: Path,
        smtp_server: SmtpTestServer,
        queue: tuple[str, str],
        database_url: str | None = None,
        learners: int = LEARNERS,
    ):
        self.tmp_path, self.smtp, self.queue = tmp_path, smtp_server, queue
        self.world = make_world(tmp_path, database_url, learners)
        self.ledger = LedgerView(tmp_path, self.world.url)
        self.stacks: list[Stack] = []
        self.redis_servers: list[RedisServer] = []
        self.started = time.perf_counter()

    def env(self, **extra) -> dict:
        """Settings of the scenario: small chunks, short leases, fast retries, a quick reaper."""
        redis_url, name = self.queue
        settings = dict(
            DATABASE_URL=self.world.url,
            REDIS_URL=redis_url,
            HUEY_NAME=name,
            REPORT_CHUNK_SIZE=CHUNK,
            LEASE_SECONDS=LEASE_SECONDS,
            REAPER_STALL_SECONDS=STALL_SECONDS,
            RETRY_BASE_SECONDS="0.2",
            SMTP_TIMEOUT="2",
        )
        settings.update(extra)
        return process_env(self.tmp_path, self.smtp.port, **settings)

    def stack(self, env: dict | None = None) -> Stack:
        """A stack on the scenario's settings (or env), started by the test."""
        stack = Stack(self.tmp_path, env or self.env())
        self.stacks.append(stack)
        return stack

    def standard_stack(self, **extra) -> Stack:
        """Two consumers (the first runs the periodic reaper, the second -n) and the web app."""
        stack = self.stack(self.env(**extra))
        stack.start_consumers(2)
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

    def doorbell(self, stack: Stack) -> Doorbell:
        """Enqueue tasks into the stack's queue."""
        return Doorbell(stack.env)

    # The API, as a script or an admin uses it.

    def post_run(self, stack: Stack):
        """POST the month's run for everyone; the raw reply."""
        return stack.api(
            "POST",
            "/scheduled/generate-all-monthly-reports",
            self.world.token,
            {"month_year": self.world.month},
        )

    def start_run(self, stack: Stack) -> str:
        """POST the month's run for everyone; its task id."""
        status, body, _ = self.post_run(stack)
        assert status == 202, (status, body)
        assert body["total"] == self.world.learners, body
        return body["task_id"]

    def resend(self, stack: Stack, user_id: int):
        """POST a Resend of the month's report to one learner; the raw reply."""
        return stack.api(
            "POST",
            "/scheduled/generate-user-report",
            self.world.token,
            {"user_id": user_id, "month_year": self.world.month},
        )

    def resume(self, stack: Stack, task_id: str) -> None:
        """Resume the paused run as an admin does, and ring its chunks into the queue."""
        with self.ledger.session() as session:
            actions.resume(session, session.merge(self.ledger.run(task_id)))
        self.doorbell(stack).process_all_reports(self.world.month, self.ledger.run(task_id).id)

    def task_status(self, stack: Stack, task_id: str) -> dict:
        """The API's task-status of a run."""
        code, data, _ = stack.api("GET", f"/scheduled/task-status/{task_id}", self.world.token)
        assert code == 200, (code, data)
        return data

    def wait_finished(self, stack: Stack, task_id: str, timeout: float = 60) -> dict:
        """Poll task-status until the run is SUCCESS or FAILURE."""

        def finished():
            data = self.task_status(stack, task_id)
            return data if data["state"] in ("SUCCESS", "FAILURE") else None

        return eventually(
            finished,
            timeout=timeout,
            interval=0.25,
            message=lambda: f"run {task_id} did not finish within {timeout} s\n{stack.logs()}",
        )

    def wait_state(self, stack: Stack, task_id: str, run_state: str, timeout=30) -> dict:
        """Poll task-status until the run is in run_state."""

        def reached():
            data = self.task_status(stack, task_id)
            return data if data["run_state"] == run_state else None

        return eventually(
            reached,
            timeout=timeout,
            interval=0.1,
            message=lambda: f"run {task_id} never became {run_state}\n{stack.logs()}",
        )

    def wait_quiet(self, stack: Stack, timeout: float = 40) -> None:
        """Wait until every claim expired and the run shows no progress: the reaper's cue."""
        eventually(
            lambda: self.ledger.quiet_for(STALL_SECONDS + 0.5),
            timeout=timeout,
            interval=0.2,
            message=lambda: f"the ledger never went quiet\n{stack.logs()}",
        )

    def wait_messages(self, count: int, timeout: float = 30) -> None:
        """Wait until the SMTP server has received at least count messages."""
        eventually(lambda: len(self.smtp.messages) >= count, timeout=timeout, interval=0.02)

    def check(self, name: str, stack: Stack, task_id: str, **expect) -> Figures:
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

    def assert_no_more_mail(self, stack: Stack, wait: float = 1.5, retaken: int = 0) -> None:
        """Nothing goes out later on its own, and a new start of the month mails nobody.

        retaken: failed deliveries a new start takes over (they fail again, mailing nobody).
        """
        before = len(self.smtp.messages)
        status, body, _ = self.post_run(stack)
        # With nothing to retake, no run is written: 200, total 0 and no task to poll.
        assert (status, body["total"]) == ((202, retaken) if retaken else (200, 0)), body
        stays_true(
            lambda: len(self.smtp.messages) == before,
            seconds=wait,
            message="mail went out after the run was done",
        )

    def close(self) -> None:
        """Stop the scenario's processes and servers."""
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
