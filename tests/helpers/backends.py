"""The backends the suite runs on: the embedded default (SQLite data, SQLite queue) or
production's (PostgreSQL data, Redis queue), chosen for the whole session by
QUIZ_REPORTS_TEST_BACKEND (`make test` runs the suite once on each).

Every test gets a database and a queue of its own on the chosen backend, the same for
every call with its tmp_path, and removed after it: a fresh PostgreSQL database, a Redis
key prefix (HUEY_NAME) of its own.

A test's database comes migrated to the newest schema, copied from a template migrated once
a session: running the migrations cost 0.41 s a test on SQLite and 0.23 s on PostgreSQL,
a copy 0.04 s and 0.09 s. The tests of migrating itself ask for an empty one.
"""

import atexit
import os
import re
import shutil
import socket
import tempfile
import uuid
from pathlib import Path

SQLITE = "sqlite"
PG_REDIS = "pg-redis"
CHOSEN = os.environ.get("QUIZ_REPORTS_TEST_BACKEND", SQLITE)
if CHOSEN not in (SQLITE, PG_REDIS):
    raise SystemExit(f"QUIZ_REPORTS_TEST_BACKEND must be {SQLITE} or {PG_REDIS}, not {CHOSEN!r}")

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
# The suite's Redis database: nothing else on the machine uses it.
REDIS_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/7"
PG_HOST, PG_PORT = "127.0.0.1", 5432
PG_ADMIN_DSN = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/test"

# What this test made, by tmp_path: its database URL, its queue's settings.
_databases: dict[str, str] = {}
_queues: dict[str, dict[str, str]] = {}


def on_servers() -> bool:
    """True when the session runs on PostgreSQL and Redis."""
    return CHOSEN == PG_REDIS


def reachable(host: str, port: int) -> bool:
    """True when something listens at host:port."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def new_pg_database(template: str | None = None) -> str:
    """A fresh PostgreSQL database, empty or a copy of `template` (a database's name); drop
    it with drop_pg_database."""
    import psycopg

    name = f"qr_test_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"{copy}')
    return f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{name}"


def _migrate(url: str) -> None:
    from webapp.infra import schema
    from webapp.infra.database import make_engine

    engine = make_engine(url)
    try:
        schema.upgrade(engine)
    finally:
        engine.dispose()  # a template must have no connection left when it is copied


_template: dict[str, str] = {}


def _migrated_template() -> str:
    """This session's migrated database: a SQLite file's path, or a PostgreSQL database's
    name; made on first use and removed when the session's process ends."""
    if CHOSEN not in _template:
        if on_servers():
            url = new_pg_database()
            _migrate(url)
            atexit.register(drop_pg_database, url)
            _template[CHOSEN] = url.rsplit("/", 1)[-1]
        else:
            folder = tempfile.mkdtemp(prefix="qr-template-")
            atexit.register(shutil.rmtree, folder, True)
            path = Path(folder) / "template.sqlite3"
            _migrate(f"sqlite:///{path}")
            _template[CHOSEN] = str(path)
    return _template[CHOSEN]


def _sqlite_copy(template: str, path: Path) -> None:
    from webapp.infra import private

    private.file(str(path))  # 0600, as the product makes its database files
    with open(template, "rb") as source, open(path, "r+b") as target:
        shutil.copyfileobj(source, target)


def drop_pg_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[-1]
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def remove_redis_keys(name: str) -> None:
    """Delete every key of queue `name` in the suite's Redis database: the product's (which
    carry the name) and Huey's (which carry it without its punctuation)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    keys = set()
    for pattern in {name, re.sub("[^a-z0-9]", "", name.lower())}:
        keys.update(client.scan_iter(match=f"*{pattern}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def database(tmp_path: Path, *, migrated: bool = True) -> str:
    """The test's database: its SQLite file, or its own PostgreSQL database; at the newest
    schema unless `migrated` is False (asked for on the test's first call)."""
    key = str(tmp_path)
    if key not in _databases:
        if on_servers():
            _databases[key] = new_pg_database(_migrated_template() if migrated else None)
        else:
            path = tmp_path / "test.sqlite3"
            if migrated:
                _sqlite_copy(_migrated_template(), path)
            _databases[key] = f"sqlite:///{path}"
    return _databases[key]


def queue(tmp_path: Path) -> dict[str, str]:
    """Settings of the test's queue and key-value store: a SQLite file, or its Redis keys."""
    key = str(tmp_path)
    if key not in _queues:
        if on_servers():
            _queues[key] = {"REDIS_URL": REDIS_URL, "HUEY_NAME": f"qr-test-{uuid.uuid4().hex[:10]}"}
        else:
            _queues[key] = {"REDIS_URL": "", "HUEY_SQLITE_PATH": str(tmp_path / "queue.sqlite3")}
    return _queues[key]


def clean_up() -> None:
    """Drop what the tests made on the servers since the last call."""
    for url in _databases.values():
        if url.startswith("postgresql"):
            drop_pg_database(url)
    for settings in _queues.values():
        if settings["REDIS_URL"]:
            remove_redis_keys(settings["HUEY_NAME"])
    _databases.clear()
    _queues.clear()
