"""The global send rate limit on both stores: threads share one limit, refusals take nothing."""

import sqlite3
import threading
import time

import pytest
import redis
from huey import SqliteHuey

from tests.helpers.ratelimit import RATE
from tests.helpers.ratelimit import N
from tests.helpers.ratelimit import assert_rate_held
from webapp.infra.ratelimit import RateLimitTimeout
from webapp.infra.ratelimit import RedisRateLimiter
from webapp.infra.ratelimit import SqliteRateLimiter
from webapp.infra.ratelimit import limiter_for
from webapp.infra.runtime import Runtime
from webapp.infra.settings import Settings


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
