"""Session-wide setup and the fixtures every folder shares: a fresh app and database per test,
the test SMTP server, the machine's Redis and PostgreSQL, and stacks of real processes."""

import os
import tempfile
import uuid

from tests.helpers import backends

# The Huey instance is built from the environment at import; give the test session a
# queue of its own, on the session's backend, before anything imports it.
if backends.on_servers():
    _SESSION_QUEUE = f"qr-test-session-{uuid.uuid4().hex[:8]}"
    os.environ.update(REDIS_URL=backends.REDIS_URL, HUEY_NAME=_SESSION_QUEUE)
else:
    _QUEUE_DIR = tempfile.mkdtemp(prefix="quiz-reports-queue-")
    os.environ.setdefault("HUEY_SQLITE_PATH", os.path.join(_QUEUE_DIR, "huey.sqlite3"))
    os.environ.pop("REDIS_URL", None)

import pytest  # noqa: E402

import tasks  # noqa: E402
from tests.helpers.apps import open_app  # noqa: E402
from tests.helpers.smtp import FaultPlan  # noqa: E402
from tests.helpers.smtp import SmtpTestServer  # noqa: E402
from tests.helpers.stack import Stack  # noqa: E402
from webapp.web.services import get_session  # noqa: E402

# --- The session's backend, and CI: every test runs -------------------------------------------


def pytest_report_header(config):
    return f"backend: {backends.CHOSEN} (QUIZ_REPORTS_TEST_BACKEND)"


def pytest_sessionstart(session):
    """On the servers' backend, a missing server stops the session before any test."""
    if backends.on_servers():
        for name, host, port in (
            ("PostgreSQL", backends.PG_HOST, backends.PG_PORT),
            ("Redis", backends.REDIS_HOST, backends.REDIS_PORT),
        ):
            if not backends.reachable(host, port):
                pytest.exit(f"{name} is not running on {host}:{port} (see .ci/run).", returncode=1)


def pytest_sessionfinish(session):
    if backends.on_servers():
        backends.remove_redis_keys(_SESSION_QUEUE)


@pytest.fixture(autouse=True)
def _own_database_and_queue():
    """Whatever database and queue the test made on the servers goes after it."""
    yield
    backends.clean_up()


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
    """The test app's database on the session's backend; a test parametrized with
    `database_url` "sqlite" or "postgresql" (indirect=True) gets that one."""
    chosen = getattr(request, "param", None)
    if chosen == "postgresql":
        return request.getfixturevalue("postgres_url")
    if chosen == "sqlite":
        return f"sqlite:///{tmp_path / 'test.sqlite3'}"
    return backends.database(
        tmp_path, migrated=not request.node.get_closest_marker("empty_database")
    )


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


@pytest.fixture
def redis_queue():
    """A Redis URL and a queue name of this test's own; its keys are removed afterwards."""
    if not backends.reachable(backends.REDIS_HOST, backends.REDIS_PORT):
        pytest.fail(f"Redis is not running on {backends.REDIS_HOST} (see .ci/run).")
    name = f"qr-test-{uuid.uuid4().hex[:10]}"
    yield backends.REDIS_URL, name
    backends.remove_redis_keys(name)


@pytest.fixture
def postgres_url():
    """A fresh PostgreSQL database for this test, dropped afterwards."""
    if not backends.reachable(backends.PG_HOST, backends.PG_PORT):
        pytest.fail(f"PostgreSQL is not running on {backends.PG_HOST} (see .ci/run).")
    url = backends.new_pg_database()
    yield url
    backends.drop_pg_database(url)


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
