"""Fixtures for the machine's real Redis and PostgreSQL; a missing server fails the test."""

import socket
import uuid

import pytest

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_DB = 7
PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"


def _reachable(host: str, port: int) -> bool:
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
    if not _reachable("127.0.0.1", 5432):
        pytest.fail("PostgreSQL is not running on 127.0.0.1:5432 (see .ci/run).")
    import psycopg

    name = f"qr_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
