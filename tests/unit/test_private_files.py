"""The instance's files are created for their owner's eyes only (0600 files, 0700 folders),
under a umask that would let everyone read them: the databases with their -wal and -shm, the
queue's file, the outbox and its messages, the generated secret key and admin password."""

import os
import stat
from pathlib import Path

import pytest

from tests.helpers.apps import open_app
from webapp.infra import private
from webapp.infra.capture import save_message
from webapp.infra.queue import build_huey


@pytest.fixture
def everyone_may_read():
    """The usual umask (022): what the product creates would be 0644 and 0755 by default."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def modes(root: Path) -> dict[str, str]:
    """Every file and folder under root (and root) with its permission bits, in octal."""
    return {
        str(path.relative_to(root.parent)): oct(stat.S_IMODE(path.stat().st_mode))
        for path in [root, *root.rglob("*")]
    }


def test_instance_files_are_the_owners_alone(tmp_path, everyone_may_read):
    instance = tmp_path / "var" / "instance"  # neither exists yet
    settings = {
        "INSTANCE_PATH": str(instance),
        "DATABASE_URL": f"sqlite:///{instance / 'quiz_reports.sqlite3'}",
        "REDIS_URL": "",
        "HUEY_SQLITE_PATH": str(instance / "queue" / "huey.sqlite3"),
        "OUTBOX_DIR": str(instance / "outbox"),
        "SECRET_KEY": "",  # generated into the instance folder
        "MAIL_RATE_PER_SECOND": 5,  # the limiter keeps its window in the queue's file
    }
    with open_app(tmp_path, **settings) as app:
        runtime = app.extensions["runtime"]
        runtime.kv.put("progress", {"done": 1})
        runtime.limiter.reserve()
        # A consumer builds its queue before anything else has made the file.
        own = {"HUEY_SQLITE_PATH": str(instance / "consumer" / "huey.sqlite3")}
        queue = build_huey(runtime.settings.updated(own))
        save_message(runtime.settings.OUTBOX_DIR, "a@example.test", ["b@example.test"], b"x")
        result = app.test_cli_runner().invoke(args=["ensure-admin"])
        assert result.exit_code == 0, result.output
        found = modes(instance)
        queue.storage.close()
    names = {Path(name).name for name in found}
    for name in (
        "quiz_reports.sqlite3",
        "quiz_reports.sqlite3-wal",
        "quiz_reports.sqlite3-shm",
        "huey.sqlite3",
        "secret_key",
        "admin-password.txt",
    ):
        assert name in names, sorted(names)
    assert "instance/consumer/huey.sqlite3" in found
    assert any(name.endswith(".eml") for name in names)
    loose = {
        name: mode
        for name, mode in found.items()
        if mode != ("0o700" if (instance.parent / name).is_dir() else "0o600")
    }
    assert loose == {}
    # A parent it had to make is private too.
    assert oct(stat.S_IMODE((tmp_path / "var").stat().st_mode)) == "0o700"


def test_files_that_exist_keep_their_mode(tmp_path, everyone_may_read):
    shared = tmp_path / "platform.sqlite3"
    shared.write_bytes(b"")
    shared.chmod(0o640)  # a database a group reads on purpose
    assert private.file(shared) == shared
    assert stat.S_IMODE(shared.stat().st_mode) == 0o640


def test_write_replaces_a_file_with_a_private_one(tmp_path, everyone_may_read):
    path = tmp_path / "secret"
    path.write_text("old")
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    private.write(path, "new")
    assert path.read_text() == "new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["secret"]
