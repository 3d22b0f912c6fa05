"""The pages with charts at 10,000 learners: the overview, a finished run's page and learner
pages, each asked for 50 times through the app (Flask's test client, in process), taking
turns; the charts' own share measured apart. Wall and CPU time (the CPU time of this process,
which holds SQLite's work too, is less shaken by other work on a shared machine).

    .venv/bin/python -m bench.bench_charts [--backend sqlite|pg-redis] [--users 10000]

The ledger holds a run of every learner for each of the last 12 months; the last run's sent
reports keep a 3 KB mailed copy each, as they do until retention removes them.
"""

import argparse
import os
import random
import statistics
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert
from sqlalchemy import select

from bench.bench_run import Backend
from tests.helpers.web import login
from webapp.app import create_app
from webapp.core import accounts
from webapp.core import demo
from webapp.core.chart_data import months_ending
from webapp.core.models import Delivery
from webapp.core.models import ReportRun
from webapp.core.models import User
from webapp.core.months import Month
from webapp.core.states import Role
from webapp.infra import schema
from webapp.web import chart_views
from webapp.web.services import get_session

ADMIN = ("bench-admin@quiz.example", "bench password 1234")
REPEAT = 10
ROUNDS = 5


def write_ledger(session, ids: list[int]) -> int:
    """A finished run of every learner for each of the last 12 months; the last run's id."""
    rng = random.Random(5)
    run_id = 0
    for month in months_ending(Month.last_full(), 12):
        start = month.end + timedelta(days=1, hours=6)
        run = ReportRun(
            task_id=str(uuid.uuid4()),
            month=str(month),
            state="done",
            created_at=start,
            started_at=start,
            finished_at=start + timedelta(seconds=75),
        )
        session.add(run)
        session.flush()
        last = month == Month.last_full()
        rows = []
        for uid in ids:
            roll = rng.random()
            row = {
                "user_id": uid,
                "month": str(month),
                "run_id": run.id,
                "message_id": f"<{uuid.uuid4().hex}@quiz.example>",
                "attempts": 1,
            }
            if roll < 0.01:
                row |= {"state": "failed", "smtp_code": 550, "last_error": "mailbox unavailable"}
            elif roll < 0.015:
                row |= {"state": "skipped", "reason": "unsubscribed on 3 Nov 2026"}
            else:
                sent_at = start + timedelta(seconds=rng.uniform(0, 75))
                row |= {"state": "sent", "sent_at": sent_at, "smtp_code": 250}
                if last:
                    row["message"] = rng.randbytes(3000)
            rows.append(row)
        for at in range(0, len(rows), 2000):
            session.execute(insert(Delivery), rows[at : at + 2000])
        session.commit()
        run_id = run.id
    return run_id


def timed(client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)


def medians(fns: dict, rounds: int = ROUNDS) -> dict[str, tuple[float, float]]:
    """Each function's median wall and CPU milliseconds over rounds × REPEAT calls, the
    functions taking turns (the machine is shared: turns spread its noise evenly)."""
    walls: dict[str, list[float]] = {name: [] for name in fns}
    cpus: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():
        fn()  # warm up
    for _ in range(rounds):
        for name, fn in fns.items():
            for _ in range(REPEAT):
                wall, cpu = time.perf_counter(), time.process_time()
                fn()
                walls[name].append((time.perf_counter() - wall) * 1000)
                cpus[name].append((time.process_time() - cpu) * 1000)
    return {n: (statistics.median(walls[n]), statistics.median(cpus[n])) for n in fns}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=("sqlite", "pg-redis"), default="sqlite")
    parser.add_argument("--users", type=int, default=10_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="qr-bench-charts-"))
    backend = Backend(args.backend, work)
    backend.create()
    try:
        os.environ.update(backend.env)
        app = create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "bench",
                "WTF_CSRF_ENABLED": False,
                "INSTANCE_PATH": str(work),
                **backend.env,
            }
        )
        with app.app_context():
            session = get_session()
            schema.upgrade(app.extensions["runtime"].engine)
            started = time.perf_counter()
            demo.seed(session, users=args.users, months=12, seed=3, attempts=8)
            accounts.set_admin(session, *ADMIN, "Bench Admin")
            ids = list(session.scalars(select(User.id).where(User.role == Role.LEARNER)))
            run_id = write_ledger(session, ids)
            print(f"seeded {len(ids):,} learners in {time.perf_counter() - started:.0f} s")
        client = app.test_client()
        assert login(client, *ADMIN).status_code == 303
        learners = ids[:: max(len(ids) // 50, 1)][:50]
        turn = iter(range(10**9))
        pages = {
            "overview /": lambda: timed(client, "/"),
            f"run page /runs/{run_id}": lambda: timed(client, f"/runs/{run_id}"),
            "learner pages": lambda: timed(client, f"/learners/{learners[next(turn) % 50]}"),
        }
        results = medians(pages)
        with app.test_request_context():
            session = get_session()
            run = session.get(ReportRun, run_id)
            learner = session.get(User, learners[0])
            results |= medians(
                {
                    "  charts alone: overview": lambda: chart_views.months_chart(session),
                    "  charts alone: run": lambda: chart_views.run_page_charts(session, run),
                    "  charts alone: learner": lambda: chart_views.learner_charts(session, learner),
                }
            )
        # The same pages without their charts, for the charts' share of each.
        chart_views.months_chart = lambda session: None
        chart_views.run_page_charts = lambda session, run, counts=None: None
        chart_views.learner_charts = lambda session, learner: None
        without = medians(pages)
        results |= {f"  {name.split()[0]} page without charts": t for name, t in without.items()}
        print(f"{args.backend}, {args.users:,} learners, medians of {ROUNDS * REPEAT} (wall, CPU):")
        for name, (wall, cpu) in results.items():
            print(f"  {name:<32} {wall:7.1f} ms {cpu:7.1f} ms")
        app.extensions["runtime"].close()
    finally:
        if not os.environ.get("BENCH_KEEP"):
            backend.drop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
