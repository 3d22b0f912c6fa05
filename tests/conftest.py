"""Session-wide setup and the fixtures every folder shares: a fresh app and database per test,
the test SMTP server, the machine's Redis and PostgreSQL, and stacks of real processes."""

import os
import tempfile

# The Huey instance is built from the environment at import; give the test session a
# queue of its own before anything imports it.
_QUEUE_DIR = tempfile.mkdtemp(prefix="quiz-reports-queue-")
os.environ.setdefault("HUEY_SQLITE_PATH", os.path.join(_QUEUE_DIR, "huey.sqlite3"))
os.environ.pop("REDIS_URL", None)

import socket  # noqa: E402
import uuid  # noqa: E402

import pytest  # noqa: E402

import tasks  # noqa: E402
from tests.helpers.apps import open_app  # noqa: E402
from tests.helpers.smtp import FaultPlan  # noqa: E402
from tests.helpers.smtp import SmtpTestServer  # noqa: E402
from tests.helpers.stack import Stack  # noqa: E402
from webapp.web.services import get_session  # noqa: E402

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_DB = 7
PG_HOST, PG_PORT = "127.0.0.1", 5432
PG_DSN = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/test"


# --- CI: every test runs ----------------------------------------------------------------------


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI a skipped test is a failed test: Redis, PostgreSQL and Chromium must be there."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, which must run every test: {report.longrepr}"


# --- The app in the test process --------------------------------------------------------------


@pytest.fixture
def database_url(request, tmp_path):
    """The test app's database: its own SQLite file, or a fresh PostgreSQL database where a
    test is parametrized with `database_url` "postgresql" (indirect=True)."""
    if getattr(request, "param", "sqlite") == "postgresql":
        return request.getfixturevalue("postgres_url")
    return f"sqlite:///{tmp_path / 'test.sqlite3'}"


@pytest.fixture
def app(tmp_path, database_url):
    """A test app with its tables, Huey tasks left on the (unused) queue."""
    with open_app(tmp_path, DATABASE_URL=database_url) as app:
        yield app


@pytest.fixture
def mail_app(tmp_path, smtp_server):
    """An app mailing the test SMTP server, with Huey tasks run in-process."""
    with open_app(tmp_path, SMTP_PORT=smtp_server.port) as app:
        tasks.huey.immediate = True
        tasks.use_runtime(app.extensions["runtime"])
        yield app
        tasks.use_runtime(None)
        tasks.huey.immediate = False


@pytest.fixture
def session(app):
    """A database session inside an app context of the test app."""
    with app.app_context():
        yield get_session()


@pytest.fixture
def client(app):
    """A test client of the app."""
    return app.test_client()


@pytest.fixture
def runner(app):
    """A CLI runner of the app."""
    return app.test_cli_runner()


# --- The test SMTP server ---------------------------------------------------------------------


@pytest.fixture
def smtp_server():
    """A running well-behaved SmtpTestServer; set .plan to make it misbehave."""
    with SmtpTestServer() as server:
        yield server


@pytest.fixture
def make_smtp_server():
    """Start extra SmtpTestServers (e.g. with credentials); all stopped after the test."""
    servers = []

    def make(plan: FaultPlan | None = None, **kwargs) -> SmtpTestServer:
        server = SmtpTestServer(plan, **kwargs).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


# --- The machine's Redis and PostgreSQL: a missing server fails the test ----------------------


def _reachable(host: str, port: int) -> bool:
    """True when something listens at host:port."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def redis_queue():
    """A Redis URL and a queue name of this test's own; its keys are removed afterwards."""
    if not _reachable(REDIS_HOST, REDIS_PORT):
        pytest.fail(f"Redis is not running on {REDIS_HOST}:{REDIS_PORT} (see .ci/run).")
    import redis

    url = f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}"
    name = f"qr-test-{uuid.uuid4().hex[:10]}"
    yield url, name
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"*{name}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def postgres_url():
    """A fresh PostgreSQL database for this test, dropped afterwards."""
    if not _reachable(PG_HOST, PG_PORT):
        pytest.fail(f"PostgreSQL is not running on {PG_HOST}:{PG_PORT} (see .ci/run).")
    import psycopg

    name = f"qr_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["redis", "sqlite"])
def limiter_store(request, tmp_path):
    """Settings naming one backend's store for the send rate limiter, private to this test."""
    if request.param == "redis":
        url, name = request.getfixturevalue("redis_queue")
        return {"REDIS_URL": url, "HUEY_NAME": name}
    return {
        "REDIS_URL": "",
        "HUEY_SQLITE_PATH": str(tmp_path / "huey.sqlite3"),
        "HUEY_NAME": "qr-test",
    }


# --- Real processes ---------------------------------------------------------------------------


@pytest.fixture
def stacks(tmp_path):
    """stacks(env) makes a Stack (tests/helpers/stack.py) of this test; all stopped after it."""
    made: list[Stack] = []

    def make(env: dict) -> Stack:
        stack = Stack(tmp_path, env)
        made.append(stack)
        return stack

    yield make
    for stack in made:
        stack.stop()
