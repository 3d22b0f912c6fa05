"""The sign-in throttle's counters, shared by every web process: in Redis or in the embedded
queue's SQLite file, beside the queue.

A try is counted *before* the password is checked, in one atomic step that also decides
whether it may go ahead (a Lua script in Redis; one BEGIN IMMEDIATE transaction in SQLite).
So any number of tries sent at once get exactly the slots the policy allows, and the
others are refused without a password hash being computed.

Two counts apply together:

- per account and address ("pair"): `free_tries` tries go at once; after that each further
  try waits `first_delay` seconds, doubled with every try, up to `max_delay`. A success
  forgets the pair. Nobody else's address can make an account wait: there is no lock on an
  account as such.
- per address, over every account: at most `per_address` tries in a window of
  `address_window` seconds (a fixed window that starts with its first try).
"""

import os
import time
from dataclasses import dataclass
from typing import Protocol

import redis

from webapp.infra.settings import Settings
from webapp.infra.sqlitefile import SqliteFile

_US = 1_000_000


@dataclass(frozen=True)
class AttemptPolicy:
    """How many sign-in tries go ahead, and how long the ones past that wait."""

    free_tries: int = 3
    first_delay: float = 2.0
    max_delay: float = 15 * 60.0
    # A pair's count is forgotten this long after its last wait ended: an address that
    # guessed at an account for a day starts the next day where it left off.
    forget_after: float = 24 * 3600.0
    per_address: int = 30
    address_window: float = 15 * 60.0

    def delay_us(self, tries: int) -> int:
        """Microseconds the try after the `tries`-th must wait."""
        if tries < self.free_tries:
            return 0
        # Capped before the power grows past what a float holds.
        doublings = min(tries - self.free_tries, 64)
        return int(min(self.first_delay * 2**doublings, self.max_delay) * _US)


class AttemptLimiter(Protocol):
    """What the sign-in form needs from the counters."""

    def take(self, pair: str, address: str) -> float:
        """Count a try and return 0.0, or count nothing and return the seconds to wait."""
        ...

    def give_back(self, pair: str, address: str) -> None:
        """After a try that succeeded: forget the pair, and give the address its slot back."""
        ...

    def close(self) -> None:
        """Let go of the store's connections."""
        ...


# KEYS[1]: hash of the pair (n: tries, next: µs before which no try goes ahead);
# KEYS[2]: the address's count of tries in its window (expires with the window).
# ARGV: free tries, first delay µs, max delay µs, forget µs, tries per address, window µs.
# Numbers go back to Redis through %.0f: Lua's tostring keeps only 14 digits.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local free, first, cap = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local forget, per_address, window = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local n = tonumber(redis.call('HGET', KEYS[1], 'n') or '0')
local nxt = tonumber(redis.call('HGET', KEYS[1], 'next') or '0')
local wait = 0
if nxt > now then wait = nxt - now end
if tonumber(redis.call('GET', KEYS[2]) or '0') >= per_address then
  local left = redis.call('PTTL', KEYS[2]) * 1000
  if left < 0 then left = window end
  if left > wait then wait = left end
end
if wait > 0 then return string.format('%.0f', wait) end
n = n + 1
local delay = 0
if n >= free then delay = math.min(first * 2 ^ math.min(n - free, 64), cap) end
redis.call('HSET', KEYS[1], 'n', n, 'next', string.format('%.0f', now + delay))
redis.call('PEXPIRE', KEYS[1], math.ceil((delay + forget) / 1000))
if redis.call('INCR', KEYS[2]) == 1 then
  redis.call('PEXPIRE', KEYS[2], math.ceil(window / 1000))
end
return '0'
"""

_GIVE_BACK = """
redis.call('DEL', KEYS[1])
if tonumber(redis.call('GET', KEYS[2]) or '0') > 0 then redis.call('DECR', KEYS[2]) end
return 0
"""


class RedisAttemptLimiter:
    """The counts in Redis, under keys huey.signin.<queue>.* that expire by themselves."""

    def __init__(self, url: str, queue_name: str, policy: AttemptPolicy) -> None:
        self.policy = policy
        self.client = redis.Redis.from_url(url)
        self.prefix = f"huey.signin.{queue_name}."
        self._take = self.client.register_script(_TAKE)
        self._give_back = self.client.register_script(_GIVE_BACK)

    def take(self, pair: str, address: str) -> float:
        """Count a try and return 0.0, or count nothing and return the seconds to wait."""
        p = self.policy
        args = [
            p.free_tries,
            int(p.first_delay * _US),
            int(p.max_delay * _US),
            int(p.forget_after * _US),
            p.per_address,
            int(p.address_window * _US),
        ]
        keys = [self.prefix + pair, self.prefix + address]
        return int(self._take(keys=keys, args=args)) / _US

    def give_back(self, pair: str, address: str) -> None:
        """After a try that succeeded: forget the pair, and give the address its slot back."""
        self._give_back(keys=[self.prefix + pair, self.prefix + address])

    def close(self) -> None:
        """Close the Redis connections."""
        self.client.close()


_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS signin_attempt (
  key TEXT PRIMARY KEY, tries INTEGER NOT NULL, not_before INTEGER NOT NULL,
  expires INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS signin_attempt_expires ON signin_attempt (expires);
"""


class SqliteAttemptLimiter:
    """The counts in the embedded queue's SQLite file, for every process on this machine."""

    def __init__(self, path: str | os.PathLike, queue_name: str, policy: AttemptPolicy) -> None:
        self.policy = policy
        self.file = SqliteFile(path, _SQLITE_SCHEMA)
        self.prefix = f"{queue_name}."

    def take(self, pair: str, address: str) -> float:
        """Count a try and return 0.0, or count nothing and return the seconds to wait."""
        p, pair, address = self.policy, self.prefix + pair, self.prefix + address
        with self.file.immediate() as conn:
            # Read the clock once the write lock is held, so the order of tries is time order.
            now = time.time_ns() // 1000
            conn.execute("DELETE FROM signin_attempt WHERE expires <= ?", (now,))
            read = "SELECT tries, not_before, expires FROM signin_attempt WHERE key = ?"
            tries, not_before, _ = conn.execute(read, (pair,)).fetchone() or (0, 0, 0)
            used, _, window_ends = conn.execute(read, (address,)).fetchone() or (0, 0, 0)
            wait = max(0, not_before - now)
            if used >= p.per_address:
                wait = max(wait, window_ends - now)
            if wait > 0:
                return wait / _US
            tries += 1
            delay = p.delay_us(tries)
            conn.execute(
                "INSERT INTO signin_attempt (key, tries, not_before, expires) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET tries = excluded.tries,"
                " not_before = excluded.not_before, expires = excluded.expires",
                (pair, tries, now + delay, now + delay + int(p.forget_after * _US)),
            )
            # The window starts with its first try and is not pushed back by later ones.
            conn.execute(
                "INSERT INTO signin_attempt (key, tries, not_before, expires) VALUES (?, 1, 0, ?)"
                " ON CONFLICT (key) DO UPDATE SET tries = tries + 1",
                (address, now + int(p.address_window * _US)),
            )
        return 0.0

    def give_back(self, pair: str, address: str) -> None:
        """After a try that succeeded: forget the pair, and give the address its slot back."""
        with self.file.immediate() as conn:
            conn.execute("DELETE FROM signin_attempt WHERE key = ?", (self.prefix + pair,))
            conn.execute(
                "UPDATE signin_attempt SET tries = max(tries - 1, 0) WHERE key = ?",
                (self.prefix + address,),
            )

    def close(self) -> None:
        """Close the connections this process opened."""
        self.file.close()


def attempt_limiter_for(settings: Settings, policy: AttemptPolicy | None = None) -> AttemptLimiter:
    """The sign-in counters in the queue's Redis (REDIS_URL) or in its SQLite file."""
    policy = policy or AttemptPolicy()
    if settings.REDIS_URL:
        return RedisAttemptLimiter(settings.REDIS_URL, settings.HUEY_NAME, policy)
    return SqliteAttemptLimiter(settings.HUEY_SQLITE_PATH, settings.HUEY_NAME, policy)
