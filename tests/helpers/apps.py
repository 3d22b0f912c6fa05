"""Test apps in the test process: their settings, and opening and closing them."""

from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import Flask

from tests.helpers import backends
from webapp.app import create_app
from webapp.infra import schema
from webapp.web.services import get_session


def make_test_config(tmp_path: Path, *, migrated: bool = True, **overrides) -> dict:
    """Settings of a test app on its own database and queue (tests/helpers/backends.py),
    migrated to the newest schema unless `migrated` is False."""
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "WTF_CSRF_ENABLED": False,
        "OUTBOX_DIR": str(tmp_path / "outbox"),
        "INSTANCE_PATH": str(tmp_path),
        "SMTP_SERVER": "127.0.0.1",
        "SMTP_PORT": 1,
        "SMTP_SECURITY": "none",
        "SMTP_TIMEOUT": 5.0,
        "MAIL_FROM": "Quiz Reports <reports@quiz.example>",
        # The key-value store (snapshots, sign-in counts) of this test alone.
        **backends.queue(tmp_path),
    }
    config.update(overrides)
    if "DATABASE_URL" not in config:  # made only when needed: on PostgreSQL, a database
        config["DATABASE_URL"] = backends.database(tmp_path, migrated=migrated)
    return config


def reconfigure(app: Flask, **changes) -> None:
    """Change settings of a running test app, as a restart with another environment would."""
    runtime_of_app = app.extensions["runtime"]
    runtime_of_app.settings = runtime_of_app.settings.updated(changes)


def close_app(app: Flask) -> None:
    """Close the app's engine, queue and stores."""
    app.extensions["runtime"].close()


@contextmanager
def open_app(tmp_path: Path, *, tables: bool = True, **overrides) -> Iterator[Flask]:
    """A test app (with its tables unless tables=False), closed on exit."""
    app = create_app(make_test_config(tmp_path, migrated=tables, **overrides))
    try:
        if tables:
            with app.app_context():
                schema.upgrade(app.extensions["runtime"].engine)
        yield app
    finally:
        close_app(app)


def with_session(app: Flask, fn: Callable):
    """fn(session) inside an app context of the app; its result."""
    with app.app_context():
        return fn(get_session())


def rows_of(app: Flask, query) -> list[tuple]:
    """The rows a SELECT gives in the app's database, as plain tuples."""
    return [tuple(row) for row in with_session(app, lambda s: s.execute(query).all())]
