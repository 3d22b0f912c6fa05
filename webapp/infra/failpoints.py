"""Crash points for the fault-injection tests: a no-op unless a test arms one.

A worker started with FAULT_KILL_AT=<name> kills itself with SIGKILL when it reaches that
point, so a test can prove what the ledger says after a crash at exactly that step. Points
that are passed many times are counted: "after_commit:3" is the third pass of "after_commit".
"""

import os
import signal
import threading
from collections import Counter

_armed = ""
_passes: Counter[str] = Counter()
_lock = threading.Lock()


def arm(name: str) -> None:
    """Kill this process at the point `name` ("" disarms)."""
    global _armed
    _armed = name


def hit(name: str) -> None:
    """Mark that the code passed the point `name`; dies here if a test armed it."""
    if not _armed:
        return
    with _lock:
        _passes[name] += 1
        count = _passes[name]
    if _armed in (name, f"{name}:{count}"):
        os.kill(os.getpid(), signal.SIGKILL)
