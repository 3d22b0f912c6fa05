"""What the benchmark reads of the machine: CPU seconds and peak memory of processes."""

import os
import time
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its waited-for children so far; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # utime, stime, cutime, cstime are fields 14-17 of stat (11-14 after the name).
    return sum(int(f) for f in fields[11:15]) / TICKS


def descendants(pid: int) -> list[int]:
    """The process and every process below it (a consumer's worker processes)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                todo += [int(child) for child in (task / "children").read_text().split()]
            except OSError:
                continue
    return found


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and every process below it."""
    return sum(cpu_seconds(p) for p in descendants(pid))


def tree_peak_rss_mb(pid: int) -> float:
    """The largest peak memory of a process or of any process below it, in MB."""
    return max(peak_rss_mb(p) for p in descendants(pid))


def peak_rss_mb(pid: int) -> float:
    """The most resident memory the process has had (VmHWM), in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def pids_named(name: str) -> list[int]:
    """Processes whose command is `name` (e.g. postgres, redis-server)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def cpu_of_named(name: str) -> float:
    """CPU seconds of every process called `name` (a server and its backends)."""
    return sum(cpu_seconds(pid) for pid in pids_named(name))


def calibration_ms() -> float:
    """CPU milliseconds of a fixed piece of pure Python, best of five: how fast this machine
    is right now. A shared VM's speed drifts by a third from hour to hour, so figures from
    two sessions compare only after dividing by it."""
    best = float("inf")
    for _ in range(5):
        started = time.process_time()
        sum(i * i for i in range(2_000_000))
        best = min(best, time.process_time() - started)
    return round(best * 1000, 1)
