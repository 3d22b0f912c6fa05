"""The global send rate limit on both stores: threads and separate processes share one limit."""

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis
from huey import SqliteHuey

from webapp.infra.ratelimit import RateLimitTimeout
from webapp.infra.ratelimit import RedisRateLimiter
from webapp.infra.ratelimit import SqliteRateLimiter
from webapp.infra.ratelimit import limiter_for
from webapp.infra.runtime import Runtime
from webapp.infra.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
RATE = 20.0
N = 60
BURST = 1  # the documented burst of the per-second limit

# A child process: build the limiter from the config, say ready, wait for "go", then take
# its share of slots and print when each was granted.
CHILD = """
import json, sys, time
from webapp.infra.ratelimit import limiter_for
from webapp.infra.settings import Settings
config, n = json.loads(sys.argv[1]), int(sys.argv[2])
limiter = limiter_for(Settings().updated(config))
print("ready", flush=True)
sys.stdin.readline()
stamps = []
for _ in range(n):
    limiter.acquire()
    stamps.append(time.time())
limiter.close()
print(json.dumps(stamps), flush=True)
"""


@pytest.fixture(params=["redis", "sqlite"])
def store(request, tmp_path):
    """Settings naming one backend's store, private to this test."""
    if request.param == "redis":
        url, name = request.getfixturevalue("redis_queue")
        return {"REDIS_URL": url, "HUEY_NAME": name}
    return {
        "REDIS_URL": "",
        "HUEY_SQLITE_PATH": str(tmp_path / "huey.sqlite3"),
        "HUEY_NAME": "qr-test",
    }


@pytest.fixture
def make_limiter(store):
    """Build limiters on the test's store; all of them are closed afterwards."""
    made = []

    def make(per_second=0.0, per_hour=0):
        config = {**store, "MAIL_RATE_PER_SECOND": per_second, "MAIL_RATE_PER_HOUR": per_hour}
        limiter = limiter_for(Settings().updated(config))
        made.append(limiter)
        return limiter

    yield make
    for limiter in made:
        limiter.close()


def most_in_any_window(stamps: list[float], seconds: float = 1.0) -> int:
    """The largest number of stamps inside any half-open window [t, t + seconds)."""
    stamps = sorted(stamps)
    best, j = 0, 0
    for i, start in enumerate(stamps):
        while j < len(stamps) and stamps[j] < start + seconds:
            j += 1
        best = max(best, j - i)
    return best


def assert_rate_held(stamps: list[float], elapsed: float) -> None:
    assert len(stamps) == N
    # Lower bounds only: a busy machine makes everything slower, never faster.
    assert elapsed >= (N - BURST) / RATE
    assert most_in_any_window(stamps) <= BURST + RATE


def test_threads_share_one_rate(make_limiter):
    limiter = make_limiter(per_second=RATE)
    stamps, lock = [], threading.Lock()

    def take(count):
        for _ in range(count):
            limiter.acquire()
            with lock:
                stamps.append(time.time())

    threads = [threading.Thread(target=take, args=(N // 4,)) for _ in range(4)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert_rate_held(stamps, time.monotonic() - start)


def test_processes_share_one_rate(store):
    config = {**store, "MAIL_RATE_PER_SECOND": RATE, "MAIL_RATE_PER_HOUR": 0}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, json.dumps(config), str(N // 2)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for child in children:
            assert child.stdout.readline().strip() == "ready"
        start = time.monotonic()
        for child in children:
            child.stdin.write("go\n")
            child.stdin.flush()
        outputs = [child.communicate(timeout=60)[0] for child in children]
        elapsed = time.monotonic() - start
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    assert [child.returncode for child in children] == [0, 0]
    a, b = (json.loads(out) for out in outputs)
    # Whether the two processes interleave depends on the machine's load (SQLite's busy
    # handler may let one run ahead); the limit must hold across them either way.
    assert len(a) == len(b) == N // 2
    assert_rate_held(a + b, elapsed)


def test_hourly_cap_opens_an_hour_after_the_first_send(make_limiter):
    limiter = make_limiter(per_hour=5)
    assert [limiter.reserve() for _ in range(5)] == [0.0] * 5
    assert 3590 < limiter.reserve() <= 3600
    assert 3590 < limiter.reserve() <= 3600
    # The refused reserves took nothing: a cap of 6 on the same store has one slot left.
    roomier = make_limiter(per_hour=6)
    assert roomier.reserve() == 0.0
    assert roomier.reserve() > 3590


def test_both_limits_apply_together(make_limiter):
    limiter = make_limiter(per_second=RATE, per_hour=5)
    start = time.monotonic()
    for _ in range(5):
        limiter.acquire()
    assert time.monotonic() - start >= 4 / RATE
    with pytest.raises(RateLimitTimeout) as caught:
        limiter.acquire(timeout=1.0)
    assert 3500 < caught.value.retry_after <= 3600


def test_refused_reserve_takes_nothing(make_limiter):
    limiter = make_limiter(per_second=1.0)
    assert limiter.reserve() == 0.0
    first_wait = limiter.reserve()
    assert 0 < first_wait <= 1.0
    # Asking again does not push the slot further out.
    assert 0 < limiter.reserve() <= first_wait


def test_acquire_gives_up_after_timeout_and_waits_within_it(make_limiter):
    limiter = make_limiter(per_second=1.0)
    granted = time.monotonic()
    assert limiter.acquire(timeout=0) == pytest.approx(0.0, abs=0.5)
    with pytest.raises(RateLimitTimeout) as caught:
        limiter.acquire(timeout=0.05)
    assert 0 < caught.value.retry_after <= 1.0
    with pytest.raises(RateLimitTimeout):
        limiter.acquire(timeout=0)
    waited = limiter.acquire(timeout=30)
    assert waited > 0
    assert time.monotonic() - granted >= 1.0


def test_redis_keys_expire_on_their_own(redis_queue):
    url, name = redis_queue
    config = {"REDIS_URL": url, "HUEY_NAME": name}
    limiter = limiter_for(
        Settings().updated({**config, "MAIL_RATE_PER_SECOND": 5, "MAIL_RATE_PER_HOUR": 100})
    )
    try:
        assert isinstance(limiter, RedisRateLimiter)
        assert limiter.reserve() == 0.0
    finally:
        limiter.close()
    client = redis.Redis.from_url(url)
    try:
        keys = sorted(k.decode() for k in client.scan_iter(match=f"huey.ratelimit.{name}.*"))
        assert keys == [f"huey.ratelimit.{name}.sent", f"huey.ratelimit.{name}.tat"]
        ttls = {k: client.pttl(k) for k in keys}
        assert all(0 < ttl <= 3601_000 for ttl in ttls.values()), ttls
    finally:
        client.close()


def test_sqlite_limit_lives_beside_the_huey_queue(tmp_path):
    path = tmp_path / "huey.sqlite3"
    huey = SqliteHuey("qr-test", filename=str(path), timeout=30)
    config = {"REDIS_URL": "", "HUEY_SQLITE_PATH": str(path), "HUEY_NAME": "qr-test"}
    limiter = limiter_for(
        Settings().updated({**config, "MAIL_RATE_PER_SECOND": 5, "MAIL_RATE_PER_HOUR": 100})
    )
    try:
        assert isinstance(limiter, SqliteRateLimiter)
        huey.storage.enqueue(b"ring")
        assert limiter.reserve() == 0.0
        assert huey.storage.queue_size() == 1
        assert huey.storage.dequeue() == b"ring"
    finally:
        limiter.close()
        huey.storage.close()
    conn = sqlite3.connect(path)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()
    assert {"task", "rate_limit_tat", "rate_limit_grant"} <= tables


@pytest.mark.parametrize(
    "rates",
    [{}, {"MAIL_RATE_PER_SECOND": "0", "MAIL_RATE_PER_HOUR": "0"}, {"MAIL_RATE_PER_SECOND": ""}],
)
def test_unlimited_settings_give_no_limiter(rates):
    assert limiter_for(Settings.from_env(rates)) is None


def test_backend_follows_redis_url(tmp_path):
    rates = {"MAIL_RATE_PER_HOUR": "10", "INSTANCE_PATH": str(tmp_path)}
    on_redis = limiter_for(Settings.from_env({**rates, "REDIS_URL": "redis://127.0.0.1:6379/7"}))
    assert isinstance(on_redis, RedisRateLimiter)
    on_redis.close()
    # No REDIS_URL means the embedded queue's file, wherever HUEY_SQLITE_PATH puts it.
    embedded = limiter_for(Settings.from_env(rates))
    assert isinstance(embedded, SqliteRateLimiter)
    assert embedded.path == tmp_path / "huey.sqlite3"
    moved = {**rates, "HUEY_SQLITE_PATH": str(tmp_path / "q.sqlite3")}
    assert limiter_for(Settings.from_env(moved)).path == tmp_path / "q.sqlite3"


def test_negative_rates_are_refused():
    with pytest.raises(ValueError):
        limiter_for(Settings(MAIL_RATE_PER_SECOND=-1))
    with pytest.raises(ValueError):
        limiter_for(Settings(MAIL_RATE_PER_HOUR=-5))


def test_a_process_shares_one_limiter_between_its_tasks(tmp_path):
    settings = Settings.from_env({"INSTANCE_PATH": str(tmp_path), "MAIL_RATE_PER_SECOND": "3"})
    runtime = Runtime(settings)
    try:
        assert isinstance(runtime.limiter, SqliteRateLimiter)
        assert runtime.limiter.path == tmp_path / "huey.sqlite3"
    finally:
        runtime.close()
