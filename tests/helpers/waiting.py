"""The only ways tests wait: until something is true, or while something must stay true.

A fixed sleep either waits too long or not long enough on a busy 2-core machine; polling a
predicate waits exactly as long as needed and says what it was waiting for when it gives up.
"""

import time
from collections.abc import Callable

Pause = Callable[[float], None]
Message = str | Callable[[], str]  # a callable is asked only on failure (e.g. for the logs then)


def _fail(message: Message, default: str):
    """Raise AssertionError with the message (asked now, if it is a callable) or default."""
    text = message() if callable(message) else message
    raise AssertionError(text or default)


def eventually(
    predicate: Callable,
    timeout: float = 30,
    interval: float = 0.1,
    message: Message = "",
    pause: Pause = time.sleep,
):
    """Poll predicate() until it is truthy and return its value; fail with message on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            _fail(message, f"condition not met within {timeout} s")
        pause(interval)


def holds_for(
    predicate: Callable, seconds: float, interval: float = 0.05, pause: Pause = time.sleep
) -> bool:
    """True when predicate() stayed truthy on every check for `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        if not predicate():
            return False
        if time.monotonic() >= deadline:
            return True
        pause(interval)


def stays_true(
    predicate: Callable,
    seconds: float,
    interval: float = 0.05,
    message: Message = "",
    pause: Pause = time.sleep,
) -> None:
    """Check predicate() for `seconds`; fail with message the first time it is false."""
    if not holds_for(predicate, seconds, interval, pause):
        _fail(message, f"condition stopped holding within {seconds} s")


def settled(read: Callable, quiet: float, timeout: float = 30, interval: float = 0.05):
    """What read() returns once it has not changed for `quiet` seconds (within timeout)."""
    seen = []

    def unchanged_for_a_while() -> bool:
        seen.append(read())
        return holds_for(lambda: read() == seen[-1], quiet, interval)

    eventually(unchanged_for_a_while, timeout, 0, f"still changing after {timeout} s")
    return seen[-1]
