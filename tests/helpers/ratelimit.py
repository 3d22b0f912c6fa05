"""Checking the global send rate limit: the figures of the test, and the proof it held."""

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
    """N grants took at least as long as RATE allows, and no second held more than it."""
    assert len(stamps) == N
    # Lower bounds only: a busy machine makes everything slower, never faster.
    assert elapsed >= (N - BURST) / RATE
    assert most_in_any_window(stamps) <= BURST + RATE
