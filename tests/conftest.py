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

from webapp import create_app  # noqa: E402
from webapp.infra import database  # noqa: E402


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
    }
    config.update(overrides)
    return config


@pytest.fixture
def app(tmp_path):
    app = create_app(make_test_config(tmp_path))
    with app.app_context():
        database.create_all()
    yield app
    app.extensions["db_engine"].dispose()


@pytest.fixture
def mail_app(tmp_path, smtp_server):
    """An app mailing the test SMTP server, with Huey tasks run in-process."""
    import tasks
    from webapp.infra.queue import huey

    app = create_app(make_test_config(tmp_path, SMTP_PORT=smtp_server.port))
    with app.app_context():
        database.create_all()
    huey.immediate = True
    tasks.use_app(app)
    yield app
    tasks.use_app(None)
    huey.immediate = False
    app.extensions["db_engine"].dispose()


@pytest.fixture
def session(app):
    """A database session inside an app context of the test app."""
    with app.app_context():
        yield database.get_session()


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
