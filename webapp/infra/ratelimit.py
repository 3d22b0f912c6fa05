"""A global send rate limit shared by every worker thread and consumer process.

Two limits, each optional, apply together:

- MAIL_RATE_PER_SECOND: GCRA with a burst of one. Grants are spaced at least 1/rate apart,
  so any window of W seconds holds at most 1 + rate * W of them. Time not used is not
  saved up: after a quiet minute the next send goes at once, the one after waits 1/rate.
- MAIL_RATE_PER_HOUR: a sliding log. Any 3600 s window holds at most that many grants;
  when it is full the next slot opens when the oldest grant in it is an hour old.

The state lives next to the Huey queue: in Redis (one Lua script per decision, timed by the
Redis server's clock) or in the embedded queue's SQLite file (one BEGIN IMMEDIATE
transaction per decision, timed by this machine's wall clock).
"""

import contextlib
import math
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Protocol

import redis

from webapp.infra import private
from webapp.infra.settings import Settings

HOUR_US = 3600 * 1_000_000


class RateLimitTimeout(Exception):
    """No send slot could be had within the timeout; retry_after says when the next one opens."""

    def __init__(self, retry_after: float, timeout: float) -> None:
        self.retry_after = retry_after
        self.timeout = timeout
        super().__init__(
            f"mail rate limit: next send slot in {retry_after:.3f} s, "
            f"more than the {timeout:.3f} s allowed"
        )


class RateLimiter(Protocol):
    """What the sending loop needs from a limiter."""

    def acquire(self, timeout: float | None = None) -> float:
        """Block until one send is allowed; the seconds waited."""
        ...

    def reserve(self) -> float:
        """Take a slot now (0.0) or, taking nothing, the seconds until the next one."""
        ...

    def close(self) -> None:
        """Let go of the store's connections."""
        ...


class _SleepingLimiter:
    """acquire() built on reserve(): sleep for the wait it reports, then ask again."""

    def __init__(self, per_second: float, per_hour: int) -> None:
        self.per_second = per_second
        self.per_hour = per_hour
        # Rounded up so the integer interval never lets more through than the rate.
        self.interval_us = math.ceil(1_000_000 / per_second) if per_second else 0

    def reserve(self) -> float:
        raise NotImplementedError

    def acquire(self, timeout: float | None = None) -> float:
        """Block until one send is allowed; the seconds waited. RateLimitTimeout past timeout."""
        start = time.monotonic()
        while True:
            wait = self.reserve()
            waited = time.monotonic() - start
            if wait <= 0:
                return waited
            # Another process can only push the next slot later, never earlier: when it lies
            # beyond the deadline, waiting for it is pointless.
            if timeout is not None and waited + wait > timeout:
                raise RateLimitTimeout(wait, timeout)
            time.sleep(wait)


# KEYS[1]: theoretical arrival time (µs) of the per-second GCRA; KEYS[2]: sorted set of grant
# times (µs) in the last hour. ARGV: interval µs (0 = none), hourly cap (0 = none), window µs.
# Numbers go back to Redis through %.0f: Lua's tostring keeps only 14 digits.
_REDIS_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local cap = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local wait = 0
local count = 0
if interval > 0 then
  local tat = tonumber(redis.call('GET', KEYS[1]) or now)
  if tat > now + interval then tat = now + interval end
  if tat > now then wait = tat - now end
end
if cap > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', string.format('%.0f', now - window))
  count = redis.call('ZCARD', KEYS[2])
  if count >= cap then
    local first = redis.call('ZRANGE', KEYS[2], count - cap, count - cap, 'WITHSCORES')
    local until_free = tonumber(first[2]) + window - now
    if until_free > wait then wait = until_free end
  end
end
if wait > 0 then return math.ceil(wait) end
if interval > 0 then
  redis.call('SET', KEYS[1], string.format('%.0f', now + interval),
             'PX', math.ceil(interval / 1000) + 1000)
end
if cap > 0 then
  local at = string.format('%.0f', now)
  redis.call('ZADD', KEYS[2], at, at .. ':' .. count)
  redis.call('PEXPIRE', KEYS[2], math.ceil(window / 1000) + 1000)
end
return 0
"""


class RedisRateLimiter(_SleepingLimiter):
    """The limit for every process using this Redis; keys huey.ratelimit.<queue>.* expire."""

    def __init__(self, url: str, queue_name: str, per_second: float, per_hour: int) -> None:
        super().__init__(per_second, per_hour)
        self.client = redis.Redis.from_url(url)
        prefix = f"huey.ratelimit.{queue_name}"
        self.keys = [f"{prefix}.tat", f"{prefix}.sent"]
        self._script = self.client.register_script(_REDIS_SCRIPT)

    def reserve(self) -> float:
        """Take a slot now (0.0) or, taking nothing, the seconds until the next one."""
        args = [self.interval_us, self.per_hour, HOUR_US]
        return int(self._script(keys=self.keys, args=args)) / 1_000_000

    def close(self) -> None:
        """Close the Redis connections."""
        self.client.close()


_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS rate_limit_tat (name TEXT PRIMARY KEY, tat INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS rate_limit_grant (name TEXT NOT NULL, at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS rate_limit_grant_name_at ON rate_limit_grant (name, at);
"""

# Connections opened before a fork: closing them in the child could disturb the parent's
# locks and WAL, so the child keeps them referenced and never touches them.
_inherited: list = []


class SqliteRateLimiter(_SleepingLimiter):
    """The limit for every process on this machine, in the embedded queue's SQLite file."""

    def __init__(
        self, path: str | os.PathLike, queue_name: str, per_second: float, per_hour: int
    ) -> None:
        super().__init__(per_second, per_hour)
        self.path = Path(path)
        self.name = queue_name
        # The same busy timeout as the Huey queue in this file: workers and web share it.
        self.busy_timeout = 30.0
        self._lock = threading.Lock()
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._pid = os.getpid()

    def _conn(self) -> sqlite3.Connection:
        # One connection per thread: sqlite3 connections are not for sharing between threads.
        if self._pid != os.getpid():
            # The parent's lock may have been held at the fork: start afresh, lock included.
            _inherited.extend(self._conns)
            self._lock, self._local = threading.Lock(), threading.local()
            self._conns, self._pid = [], os.getpid()
        conn = getattr(self._local, "conn", None)
        if conn is None:
            private.file(self.path)
            conn = sqlite3.connect(
                self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
            )
            # Failing means another connection holds a lock; Huey switches the file to WAL anyway.
            with contextlib.suppress(sqlite3.OperationalError):
                conn.execute("PRAGMA journal_mode=wal")
            # Grants lost to a power cut only let a few mails through early; no fsync per grant.
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SQLITE_SCHEMA)
            self._local.conn = conn
            with self._lock:
                self._conns.append(conn)
        return conn

    def reserve(self) -> float:
        """Take a slot now (0.0) or, taking nothing, the seconds until the next one."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            wait_us = self._decide(conn)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return wait_us / 1_000_000

    def _decide(self, conn: sqlite3.Connection) -> int:
        # Read the clock only once the write lock is held, so grant order is time order.
        now = time.time_ns() // 1000
        wait = count = 0
        if self.interval_us:
            row = conn.execute("SELECT tat FROM rate_limit_tat WHERE name = ?", (self.name,))
            tat = (row.fetchone() or (now,))[0]
            tat = min(tat, now + self.interval_us)  # the wall clock stepped back
            wait = max(0, tat - now)
        if self.per_hour:
            conn.execute(
                "DELETE FROM rate_limit_grant WHERE name = ? AND at <= ?",
                (self.name, now - HOUR_US),
            )
            (count,) = conn.execute(
                "SELECT count(*) FROM rate_limit_grant WHERE name = ?", (self.name,)
            ).fetchone()
            if count >= self.per_hour:
                (first,) = conn.execute(
                    "SELECT at FROM rate_limit_grant WHERE name = ? ORDER BY at LIMIT 1 OFFSET ?",
                    (self.name, count - self.per_hour),
                ).fetchone()
                wait = max(wait, first + HOUR_US - now)
        if wait > 0:
            return wait
        if self.interval_us:
            conn.execute(
                "INSERT INTO rate_limit_tat (name, tat) VALUES (?, ?)"
                " ON CONFLICT (name) DO UPDATE SET tat = excluded.tat",
                (self.name, now + self.interval_us),
            )
        if self.per_hour:
            conn.execute("INSERT INTO rate_limit_grant (name, at) VALUES (?, ?)", (self.name, now))
        return 0

    def close(self) -> None:
        """Close the connections this process opened."""
        with self._lock:
            conns, self._conns = self._conns, []
            self._local = threading.local()
        for conn in conns:
            conn.close()


def _rates(settings: Settings) -> tuple[float, int]:
    per_second = float(settings.MAIL_RATE_PER_SECOND or 0)
    per_hour = int(settings.MAIL_RATE_PER_HOUR or 0)
    if not math.isfinite(per_second) or per_second < 0 or per_hour < 0:
        raise ValueError("MAIL_RATE_PER_SECOND and MAIL_RATE_PER_HOUR must be 0 or more")
    return per_second, per_hour


def limiter_for(settings: Settings) -> RateLimiter | None:
    """A limiter for these settings on the queue's store; None when sending is unlimited."""
    per_second, per_hour = _rates(settings)
    if not per_second and not per_hour:
        return None
    if settings.REDIS_URL:
        return RedisRateLimiter(settings.REDIS_URL, settings.HUEY_NAME, per_second, per_hour)
    return SqliteRateLimiter(settings.HUEY_SQLITE_PATH, settings.HUEY_NAME, per_second, per_hour)
