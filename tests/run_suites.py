"""`make test`: the whole suite twice, at once: on the embedded backend (SQLite data, SQLite
queue) in one process, and on production's (PostgreSQL data, Redis queue) in two, each with
half of the test files.

Why two for the servers' suite: it is the slower (each test's database and queue are made on
a server), and much of its time is spent waiting on processes, sockets and the browser, not
on the CPU. Alone it ran three and a half minutes past the SQLite suite.

The SQLite suite streams its output; the others' is shown when all are done. Without
PostgreSQL or Redis on this machine only the first runs, and says so; in CI (CI set) that is
a failure. QUIZ_REPORTS_TEST_BACKEND=sqlite or pg-redis runs just that one, in one process.
Arguments go to pytest; with arguments, the servers' suite is not split.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers import backends

ROOT = Path(__file__).resolve().parents[1]


def _pytest(backend: str, args: list[str], **popen) -> subprocess.Popen:
    env = {**os.environ, "QUIZ_REPORTS_TEST_BACKEND": backend}
    # One cache between two sessions at once would race; the second keeps none.
    own = ["-p", "no:cacheprovider"] if backend == backends.PG_REDIS else []
    return subprocess.Popen([sys.executable, "-m", "pytest", *own, *args], env=env, **popen)


# Test files whose tests start processes (a stack, a browser): weighed as this many bytes of
# source more than they have when the servers' suite is split in two.
_SLOW = {"browser": 6.0, "faults": 6.0, "integration": 3.0}


def _halves() -> list[list[str]]:
    """Every test file, in two lists of about the same expected time: the largest first,
    each into the lighter list (a file's weight is its size, more for the slow folders)."""
    files = sorted((ROOT / "tests").rglob("test_*.py"))

    def weight(path: Path) -> float:
        return path.stat().st_size * _SLOW.get(path.parent.name, 1.0)

    halves: list[list[str]] = [[], []]
    loads = [0.0, 0.0]
    for path in sorted(files, key=weight, reverse=True):
        lighter = loads.index(min(loads))
        halves[lighter].append(str(path.relative_to(ROOT)))
        loads[lighter] += weight(path)
    return [sorted(half) for half in halves]


def _servers_missing() -> list[str]:
    wanted = [
        ("PostgreSQL", backends.PG_HOST, backends.PG_PORT),
        ("Redis", backends.REDIS_HOST, backends.REDIS_PORT),
    ]
    return [f"{n} ({h}:{p})" for n, h, p in wanted if not backends.reachable(h, p)]


def main(args: list[str]) -> int:
    if "QUIZ_REPORTS_TEST_BACKEND" in os.environ:
        return _pytest(os.environ["QUIZ_REPORTS_TEST_BACKEND"], args).wait()
    missing = _servers_missing()
    if missing:
        print(f"[make test] not reachable: {', '.join(missing)}", flush=True)
        if os.environ.get("CI"):
            print("[make test] CI runs the suite on both backends; failing.", flush=True)
            return 1
        print("[make test] running on SQLite only; start them to test PostgreSQL + Redis.")
        return _pytest(backends.SQLITE, args).wait()

    started = time.perf_counter()
    log_dir = ROOT / "instance"
    log_dir.mkdir(exist_ok=True)
    shards = [args] if args else [[*args, *half] for half in _halves()]
    logs = [log_dir / f"pytest-pg-redis-{n + 1}.log" for n in range(len(shards))]
    servers = []
    for shard, path in zip(shards, logs, strict=True):
        with open(path, "wb") as log:
            servers.append(_pytest(backends.PG_REDIS, shard, stdout=log, stderr=subprocess.STDOUT))
    print(f"[make test] PostgreSQL + Redis suite running; its output: {', '.join(map(str, logs))}")
    print("[make test] SQLite suite:", flush=True)
    embedded = _pytest(backends.SQLITE, args).wait()
    on_servers = [process.wait() for process in servers]
    for n, path in enumerate(logs, 1):
        print(f"\n[make test] PostgreSQL + Redis suite, part {n} of {len(logs)}:", flush=True)
        sys.stdout.write(path.read_text(errors="replace"))
    elapsed = time.perf_counter() - started
    verdict = {0: "passed"}
    servers_verdict = "passed" if not any(on_servers) else "FAILED"
    print(
        f"\n[make test] SQLite: {verdict.get(embedded, 'FAILED')}; "
        f"PostgreSQL + Redis: {servers_verdict}; {elapsed:.0f} s in all."
    )
    return embedded or next((code for code in on_servers if code), 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
