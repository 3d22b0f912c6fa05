"""Fixtures: a fresh app and database per test, real services where the test needs them."""

import os
import tempfile

# The Huey instance is built from the environment at import; give the test session a
# queue of its own before anything imports it.
_QUEUE_DIR = tempfile.mkdtemp(prefix="quiz-reports-queue-")
os.environ.setdefault("HUEY_SQLITE_PATH", os.path.join(_QUEUE_DIR, "huey.sqlite3"))
os.environ.pop("REDIS_URL", None)

import pytest  # noqa: E402

pytest_plugins = ["tests.smtp_server", "tests.services"]

import tasks  # noqa: E402
from webapp.app import create_app  # noqa: E402
from webapp.core.models import create_tables  # noqa: E402
from webapp.web.services import get_session  # noqa: E402
from webapp.web.services import runtime  # noqa: E402


def make_test_config(tmp_path, **overrides) -> dict:
    """Settings of a test app on its own SQLite file."""
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'test.sqlite3'}",
        "WTF_CSRF_ENABLED": False,
        "OUTBOX_DIR": str(tmp_path / "outbox"),
        "INSTANCE_PATH": str(tmp_path),
        "SMTP_SERVER": "127.0.0.1",
        "SMTP_PORT": 1,
        "SMTP_SECURITY": "none",
        "SMTP_TIMEOUT": 5.0,
        "MAIL_FROM": "Quiz Reports <reports@quiz.example>",
        # The key-value store (snapshots, sign-in counts) of this test alone.
        "HUEY_SQLITE_PATH": str(tmp_path / "huey.sqlite3"),
    }
    config.update(overrides)
    return config


def reconfigure(app, **changes) -> None:
    """Change settings of a running test app, as a restart with another environment would."""
    runtime_of_app = app.extensions["runtime"]
    runtime_of_app.settings = runtime_of_app.settings.updated(changes)


@pytest.fixture
def app(tmp_path):
    app = create_app(make_test_config(tmp_path))
    with app.app_context():
        create_tables(runtime().engine)
    yield app
    app.extensions["runtime"].close()


@pytest.fixture
def mail_app(tmp_path, smtp_server):
    """An app mailing the test SMTP server, with Huey tasks run in-process."""
    app = create_app(make_test_config(tmp_path, SMTP_PORT=smtp_server.port))
    with app.app_context():
        create_tables(runtime().engine)
    tasks.huey.immediate = True
    tasks.use_runtime(app.extensions["runtime"])
    yield app
    tasks.use_runtime(None)
    tasks.huey.immediate = False
    app.extensions["runtime"].close()


@pytest.fixture
def session(app):
    """A database session inside an app context of the test app."""
    with app.app_context():
        yield get_session()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI a skipped test is a failed test: Redis, PostgreSQL and Chromium must be there."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, which must run every test: {report.longrepr}"
