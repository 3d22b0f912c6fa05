"""Whole monthly runs, as deployed: the web app up, huey_consumer processes, the SMTP server in a
process of its own; each run started and polled through the JSON API.

    .venv/bin/python -m bench.bench_run [--backend sqlite|pg-redis] [--users 10000]
        [--consumers 1] [--workers 2] [--relay-latency-ms 0] [--repeat 3] [--json out.json]

Each run must mail every learner exactly once (the SMTP server counts by recipient) or the
bench fails. It prints a table (POST -> SUCCESS, CPU seconds per 1,000 learners of the workers,
the web app, the SMTP server and the database server, the workers' peak memory, and the
latency of task-status, the run page and its progress fragment while the run goes), then the
run page, learner search and preview on the quiet database, and writes the figures as JSON.
"""

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import psycopg
import redis
from sqlalchemy import delete
from sqlalchemy import select

from bench.machine import calibration_ms
from bench.machine import cpu_of_named
from bench.machine import cpu_seconds
from bench.machine import tree_cpu_seconds
from bench.machine import tree_peak_rss_mb
from bench.probes import Browser
from bench.probes import Poller
from bench.probes import percentiles
from tests.helpers.stack import BIN
from tests.helpers.stack import Process
from tests.helpers.stack import api
from tests.helpers.stack import free_port
from tests.helpers.stack import start_web
from tests.helpers.waiting import eventually
from webapp.core import accounts
from webapp.core import demo
from webapp.core import tokens
from webapp.core.models import Delivery
from webapp.core.models import ReportRun
from webapp.core.models import User
from webapp.core.months import Month
from webapp.core.states import Role
from webapp.infra import schema
from webapp.infra.database import make_engine
from webapp.infra.database import session_factory

# py-spy sampling: --gil shows where the CPU goes, --idle where the wall time goes.
PYSPY_MODE = os.environ.get("BENCH_PYSPY", "--gil").split()
ADMIN_EMAIL = "bench-admin@quiz.example"
ADMIN_PASSWORD = "bench password 1234"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/9"


@dataclass
class Backend:
    """Where the data and the queue live, and how to clean them away."""

    name: str
    work: Path
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:10])

    @property
    def env(self) -> dict:
        if self.name == "sqlite":
            return {
                "DATABASE_URL": f"sqlite:///{self.work / 'bench.sqlite3'}",
                "HUEY_SQLITE_PATH": str(self.work / "queue.sqlite3"),
            }
        return {
            "DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:5432/qr_bench_{self.tag}",
            "REDIS_URL": REDIS_URL,
            "HUEY_NAME": f"qr-bench-{self.tag}",
        }

    def create(self) -> None:
        if self.name == "pg-redis":
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "qr_bench_{self.tag}"')

    def drop(self) -> None:
        if self.name != "pg-redis":
            return
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "qr_bench_{self.tag}" WITH (FORCE)')
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=f"*qr-bench-{self.tag}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()

    def database_cpu(self) -> float:
        """CPU seconds of the database and queue servers (in-process for SQLite)."""
        if self.name == "sqlite":
            return 0.0
        return cpu_of_named("postgres") + cpu_of_named("redis-server")


def seed(backend: Backend, users: int, attempts: int) -> tuple[str, Month, dict[str, int]]:
    """Demo learners for the last two full months, the admin and an API token."""
    engine = make_engine(backend.env["DATABASE_URL"])
    schema.upgrade(engine)
    with session_factory(engine)() as session:
        started = time.perf_counter()
        made = demo.seed(session, users=users, months=2, seed=11, attempts=attempts)
        admin = accounts.set_admin(session, ADMIN_EMAIL, ADMIN_PASSWORD, "Bench Admin")
        token = tokens.create_token(session, admin, "bench")[1]
        emails = dict(
            session.execute(select(User.email, User.id).where(User.role == Role.LEARNER)).all()
        )
        print(
            f"seeded {made['learners']:,} learners, {made['attempts']:,} attempts "
            f"in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
    engine.dispose()
    return token, Month.last_full(), {email.lower(): uid for email, uid in emails.items()}


def clear_runs(backend: Backend) -> None:
    """Forget every run, so the next one mails every learner again."""
    engine = make_engine(backend.env["DATABASE_URL"])
    with session_factory(engine)() as session:
        session.execute(delete(Delivery))
        session.execute(delete(ReportRun))
        session.commit()
    engine.dispose()


class Sink:
    """bench/smtp_sink.py in its own process."""

    def __init__(self, work: Path, latency_ms: float) -> None:
        self.port = free_port()
        self.counts = work / "counts.json"
        argv = [sys.executable, "-m", "bench.smtp_sink", "--port", str(self.port)]
        argv += ["--counts", str(self.counts), "--latency-ms", str(latency_ms)]
        self.process = Process("sink", argv, dict(os.environ), work)
        eventually(lambda: "listening" in self.process.log(), timeout=20)

    def forget(self) -> None:
        """Start counting afresh (before a new run)."""
        self.process.proc.send_signal(signal.SIGUSR2)

    def received(self) -> dict[str, int]:
        self.counts.unlink(missing_ok=True)
        self.process.proc.send_signal(signal.SIGUSR1)
        eventually(self.counts.exists, timeout=10)
        return json.loads(self.counts.read_text())

    def stop(self) -> None:
        self.process.stop(signal.SIGTERM)


@dataclass
class RunFigures:
    """One run, measured."""

    seconds: float
    learners: int
    worker_cpu_per_1000: float
    web_cpu_per_1000: float
    smtp_cpu_per_1000: float
    database_cpu_per_1000: float
    worker_peak_rss_mb: float
    during_run: dict


def one_run(n, args, backend, stack, sink, token, month, emails, browser) -> RunFigures:
    """Start the month through the API, poll it to SUCCESS, check who got what."""
    consumers = [p.proc.pid for p in stack["consumers"]]
    web_pid, sink_pid = stack["web"].proc.pid, sink.process.proc.pid
    before = (
        sum(tree_cpu_seconds(p) for p in consumers),
        cpu_seconds(web_pid),
        cpu_seconds(sink_pid),
        backend.database_cpu(),
    )
    started = time.perf_counter()
    status, body, _ = api(
        stack["base"],
        "POST",
        "/scheduled/generate-all-monthly-reports",
        token,
        {"month_year": str(month)},
    )
    assert status == 202, (status, body)
    task_id = body["task_id"]
    poller = None
    while True:
        _, state, _ = api(stack["base"], "GET", f"/scheduled/task-status/{task_id}", token)
        if state["state"] in ("SUCCESS", "FAILURE"):
            break
        if poller is None and args.probe and state["run_state"] == "running":
            run_id = state_run_id(backend, task_id)
            poller = Poller(stack["base"], token, browser, task_id, run_id)
            poller.start()
        # A script polls less often; this often is enough to time a run to a tenth of a second.
        time.sleep(0.1)
    seconds = time.perf_counter() - started
    if poller is not None:
        poller.stop.set()
        poller.join()
    after = (
        sum(tree_cpu_seconds(p) for p in consumers),
        cpu_seconds(web_pid),
        cpu_seconds(sink_pid),
        backend.database_cpu(),
    )
    assert state["state"] == "SUCCESS", state
    summary = state["result"]["summary"]
    received = sink.received()
    wrong = {a: c for a, c in received.items() if c != 1}
    missing = set(emails) - set(received)
    assert summary["successful"] == len(emails) and not wrong and not missing, (
        summary,
        dict(list(wrong.items())[:5]),
        sorted(missing)[:5],
    )
    per_1000 = [round((b - a) * 1000 / len(emails), 2) for a, b in zip(before, after, strict=True)]
    figures = RunFigures(
        seconds=round(seconds, 2),
        learners=len(emails),
        worker_cpu_per_1000=per_1000[0],
        web_cpu_per_1000=per_1000[1],
        smtp_cpu_per_1000=per_1000[2],
        database_cpu_per_1000=per_1000[3],
        worker_peak_rss_mb=round(max(tree_peak_rss_mb(p) for p in consumers), 1),
        during_run=poller.figures() if poller else {},
    )
    print(
        f"run {n}: {len(emails):,} learners, each mailed once, in {figures.seconds:.2f} s "
        f"({len(emails) / seconds:,.0f}/s); CPU s per 1,000: workers "
        f"{figures.worker_cpu_per_1000}, web {figures.web_cpu_per_1000}, smtp "
        f"{figures.smtp_cpu_per_1000}, db {figures.database_cpu_per_1000}; "
        f"worker peak RSS {figures.worker_peak_rss_mb} MB",
        flush=True,
    )
    return figures


def state_run_id(backend: Backend, task_id: str) -> int:
    engine = make_engine(backend.env["DATABASE_URL"])
    with session_factory(engine)() as session:
        run_id = session.scalar(select(ReportRun.id).where(ReportRun.task_id == task_id))
    engine.dispose()
    return run_id


def quiet_probes(browser: Browser, backend: Backend, month: Month, emails: dict) -> dict:
    """The run page of the last run, learner search and previews (of the run's month, and of
    the month before with no mail kept), on a quiet database."""
    engine = make_engine(backend.env["DATABASE_URL"])
    with session_factory(engine)() as session:
        run_id = session.scalar(select(ReportRun.id).order_by(ReportRun.id.desc()).limit(1))
    engine.dispose()
    learner_ids = sorted(emails.values())
    step = max(len(learner_ids) // 20, 1)
    timings = {
        "run_page": [browser.get(f"/runs/{run_id}")[1] for _ in range(20)],
        "learner_search": [browser.get("/learners?q=ana")[1] for _ in range(20)],
        "preview": [
            browser.get(f"/learners/{uid}/preview/{month}")[1] for uid in learner_ids[::step][:20]
        ],
        # The month before the run's: no mail kept, so the report is built and rendered.
        "preview_unsent": [
            browser.get(f"/learners/{uid}/preview/{month.previous()}")[1]
            for uid in learner_ids[::step][:20]
        ],
    }
    return {name: percentiles(values) for name, values in timings.items()}


def start_stack(args, backend: Backend, work: Path, smtp_port: int) -> dict:
    env = {
        **os.environ,
        **backend.env,
        "SECRET_KEY": "bench",
        "INSTANCE_PATH": str(work),
        "SMTP_SERVER": "127.0.0.1",
        "SMTP_PORT": str(smtp_port),
        "SMTP_SECURITY": "none",
        "PYTHONUNBUFFERED": "1",
        **dict(kv.split("=", 1) for kv in args.env),
    }
    if backend.name == "sqlite":
        env.pop("REDIS_URL", None)
    port = free_port()
    web = start_web(env, work, port)
    consumers = []
    for i in range(args.consumers):
        argv = [str(BIN / "huey_consumer"), "tasks.huey", "-w", str(args.workers)]
        argv += ["-k", args.worker_type, *args.consumer_options.split()]
        if i:
            argv.append("-n")  # only the first consumer runs the periodic reaper
        consumers.append(Process(f"consumer{i}", argv, env, work))
    for proc in consumers:
        eventually(lambda p=proc: "Huey consumer started" in p.log(), timeout=30)
    return {"web": web, "consumers": consumers, "base": f"http://127.0.0.1:{port}", "env": env}


def start_profilers(folder: Path, stack: dict) -> list[Process]:
    """py-spy sampling every worker process (idle threads too) until stopped."""
    folder.mkdir(parents=True, exist_ok=True)
    profilers = []
    for i, consumer in enumerate(stack["consumers"]):
        argv = [str(BIN / "py-spy"), "record", "--pid", str(consumer.proc.pid), *PYSPY_MODE]
        argv += ["--rate", "250", "--format", "raw", "--output", str(folder / f"worker{i}.txt")]
        profilers.append(Process(f"py-spy-{i}", argv, dict(os.environ), folder))
    time.sleep(1)  # py-spy attaches
    return profilers


def summary_table(runs: list[RunFigures], quiet: dict, args) -> str:
    def median(attr: str) -> float:
        return round(statistics.median(getattr(r, attr) for r in runs), 2)

    during = {}
    for name in ("task_status", "run_page", "fragment"):
        p95s = [r.during_run[name]["p95_ms"] for r in runs if r.during_run.get(name)]
        if p95s:
            during[name] = statistics.median(p95s)
    lines = [
        f"{args.users:,} learners, {args.backend}, {args.consumers} consumer(s) x "
        f"{args.workers} {args.worker_type} workers, relay latency {args.relay_latency_ms} ms",
        f"  POST -> SUCCESS, median of {len(runs)}: {median('seconds')} s "
        f"({', '.join(str(r.seconds) for r in runs)})",
        f"  CPU s per 1,000 learners: workers {median('worker_cpu_per_1000')}, web "
        f"{median('web_cpu_per_1000')}, SMTP server {median('smtp_cpu_per_1000')}, database "
        f"{median('database_cpu_per_1000')}",
        f"  worker peak RSS: {max(r.worker_peak_rss_mb for r in runs)} MB",
    ]
    if during:
        lines.append(
            "  while running, p95: "
            + ", ".join(f"{name} {value} ms" for name, value in during.items())
        )
    if quiet:
        lines.append(
            "  quiet: "
            + ", ".join(f"{k} p50 {v['p50_ms']} / p95 {v['p95_ms']} ms" for k, v in quiet.items())
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=("sqlite", "pg-redis"), default="sqlite")
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--attempts", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--consumers", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-type", default="thread", choices=("thread", "process"))
    # An idle SQLite queue is polled; as in `make run`, at least twice a second.
    parser.add_argument("--consumer-options", default="-m 0.5")
    parser.add_argument("--relay-latency-ms", type=float, default=0.0)
    parser.add_argument("--no-probe", dest="probe", action="store_false")
    parser.add_argument("--env", action="append", default=[], help="NAME=value for processes")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument(
        "--profile", type=Path, help="sample the workers with py-spy into this folder"
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="quiz-reports-bench-"))
    backend = Backend(args.backend, work)
    backend.create()
    sink = None
    stack = None
    try:
        speed = calibration_ms()
        print(f"machine: {os.cpu_count()} cores, calibration {speed} ms", flush=True)
        token, month, emails = seed(backend, args.users, args.attempts)
        sink = Sink(work, args.relay_latency_ms)
        stack = start_stack(args, backend, work, sink.port)
        browser = Browser(stack["base"], ADMIN_EMAIL, ADMIN_PASSWORD)
        profilers = start_profilers(args.profile, stack) if args.profile else []
        runs = []
        for n in range(1, args.repeat + 1):
            if n > 1:
                clear_runs(backend)
                sink.forget()
            runs.append(one_run(n, args, backend, stack, sink, token, month, emails, browser))
        for profiler in profilers:
            profiler.stop()
        quiet = quiet_probes(browser, backend, month, emails) if args.probe else {}
        print(summary_table(runs, quiet, args), flush=True)
        if args.json:
            figures = {"args": vars(args) | {"json": str(args.json)}, "quiet": quiet}
            figures["calibration_ms"] = [speed, calibration_ms()]  # before and after
            figures["runs"] = [asdict(r) for r in runs]
            args.json.write_text(json.dumps(figures, indent=2, default=str))
    finally:
        if stack is not None:
            for proc in [stack["web"], *stack["consumers"]]:
                proc.stop()
        if sink is not None:
            sink.stop()
        backend.drop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
