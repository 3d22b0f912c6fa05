"""The Class month page at scale, as deployed: demo learners with two months of attempts, the
web app in a process of its own, an admin's browser timing its GETs.

    .venv/bin/python -m bench.bench_teaching [--backend sqlite|pg-redis] [--users 10000]
        [--attempts 20] [--repeat 30] [--json out.json]

It prints the time to work a month out (the first visit, and class_month alone), then the
median and 95th percentile of the page as it is read back (the last month, a later page of
the learners with no attempts, the absent list's htmx fragment, the month before) and of the
two downloads, beside the account page as the floor every signed-in page pays.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.bench_run import ADMIN_EMAIL
from bench.bench_run import ADMIN_PASSWORD
from bench.bench_run import Backend
from bench.bench_run import seed
from bench.probes import Browser
from bench.probes import percentiles
from tests.helpers.stack import free_port
from tests.helpers.stack import start_web
from webapp.core import teaching
from webapp.infra.database import make_engine
from webapp.infra.database import session_factory


def work_out_seconds(backend: Backend, month, times: int = 3) -> float:
    """The median time of class_month itself (every grouped query, nothing kept)."""
    engine = make_engine(backend.env["DATABASE_URL"])
    seconds = []
    with session_factory(engine)() as session:
        for _ in range(times):
            started = time.perf_counter()
            teaching.class_month(session, month)
            seconds.append(time.perf_counter() - started)
            session.rollback()
    engine.dispose()
    return statistics.median(seconds)


def probe(browser: Browser, month, repeat: int) -> dict:
    page = f"/teaching?month={month}"
    status, first = browser.get(page)
    assert status == 200, status
    paths = {
        "page": page,
        "page_absent_2": f"{page}&page=2",
        "absent_fragment": f"{page}&page=2",
        "month_before": f"/teaching?month={month.previous()}",
        # The floor: a page with next to no SQL of its own, through the same sign-in checks.
        "account_page": "/account",
    }
    browser.get(paths["month_before"])  # worked out once, as the first visit of it would
    timings = {}
    for name, path in paths.items():
        headers = {"HX-Request": "true"} if name == "absent_fragment" else None
        timings[name] = [browser.get(path, headers)[1] for _ in range(repeat)]
    for table in ("quizzes", "learners"):
        path = f"{page}&format=csv&table={table}"
        timings[f"csv_{table}"] = [browser.get(path)[1] for _ in range(max(repeat // 6, 3))]
    return {"first_visit_ms": round(first * 1000, 1)} | {
        name: percentiles(values) for name, values in timings.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "pg-redis"), default="sqlite")
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--attempts", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-teaching-") as folder:
        work = Path(folder)
        backend = Backend(args.backend, work)
        backend.create()
        web = None
        try:
            _token, month, _emails = seed(backend, args.users, args.attempts)
            env = {
                **os.environ,
                **backend.env,
                "SECRET_KEY": "bench",
                "INSTANCE_PATH": str(work),
                "PYTHONUNBUFFERED": "1",
            }
            if args.backend == "sqlite":
                env.pop("REDIS_URL", None)
            port = free_port()
            web = start_web(env, work, port)
            browser = Browser(f"http://127.0.0.1:{port}", ADMIN_EMAIL, ADMIN_PASSWORD)
            figures = {
                "backend": args.backend,
                "learners": args.users,
                "work_out_ms": round(work_out_seconds(backend, month) * 1000, 1),
                **probe(browser, month, args.repeat),
            }
        finally:
            if web is not None:
                web.stop()
            backend.drop()
    print(f"Class month, {figures['backend']}, {figures['learners']:,} learners:")
    print(f"  working a month out: class_month {figures['work_out_ms']} ms,", end=" ")
    print(f"first visit {figures['first_visit_ms']} ms")
    for name, value in figures.items():
        if isinstance(value, dict):
            print(f"  {name:16} p50 {value['p50_ms']:7} ms   p95 {value['p95_ms']:7} ms")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
