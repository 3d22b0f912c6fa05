"""`make test`: the whole suite twice, at once, in two processes: on the embedded backend
(SQLite data, SQLite queue) and on production's (PostgreSQL data, Redis queue).

The first streams its output; the second's is shown when both are done. Without PostgreSQL or
Redis on this machine only the first runs, and says so; in CI (CI set) that is a failure.
QUIZ_REPORTS_TEST_BACKEND=sqlite or pg-redis runs just that one. Arguments go to pytest.
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
    log_path = ROOT / "instance" / "pytest-pg-redis.log"
    log_path.parent.mkdir(exist_ok=True)
    with open(log_path, "wb") as log:
        servers = _pytest(backends.PG_REDIS, args, stdout=log, stderr=subprocess.STDOUT)
        print(f"[make test] PostgreSQL + Redis suite running; its output: {log_path}", flush=True)
        print("[make test] SQLite suite:", flush=True)
        embedded = _pytest(backends.SQLITE, args).wait()
        on_servers = servers.wait()
    print("\n[make test] PostgreSQL + Redis suite:", flush=True)
    sys.stdout.write(log_path.read_text(errors="replace"))
    elapsed = time.perf_counter() - started
    verdict = {0: "passed"}
    print(
        f"\n[make test] SQLite: {verdict.get(embedded, 'FAILED')}; "
        f"PostgreSQL + Redis: {verdict.get(on_servers, 'FAILED')}; {elapsed:.0f} s in all."
    )
    return embedded or on_servers


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
