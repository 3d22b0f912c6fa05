"""Time whole runs: N learners, real huey_consumer process(es), a real SMTP sink.

Run from the project root: .venv/bin/python -m bench.bench_run [--users 10000] [--repeat 3]
Prints each run's time from start to the run closing, and the median.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = Path(tempfile.mkdtemp(prefix="quiz-reports-bench-"))
# The queue is built from the environment at import: point it at this bench's files first.
os.environ.update(
    INSTANCE_PATH=str(WORK),
    SECRET_KEY="bench",
    DATABASE_URL=f"sqlite:///{WORK / 'bench.sqlite3'}",
    HUEY_SQLITE_PATH=str(WORK / "queue.sqlite3"),
)
sys.path.insert(0, str(ROOT))

from aiosmtpd.controller import Controller  # noqa: E402
from sqlalchemy import delete  # noqa: E402

from tests.helpers.stack import free_port  # noqa: E402
from tests.helpers.stack import start_consumer  # noqa: E402
from webapp import enqueue  # noqa: E402
from webapp.app import create_app  # noqa: E402
from webapp.core import demo  # noqa: E402
from webapp.core import launch  # noqa: E402
from webapp.core.models import Delivery  # noqa: E402
from webapp.core.models import ReportRun  # noqa: E402
from webapp.core.models import create_tables  # noqa: E402
from webapp.core.months import Month  # noqa: E402
from webapp.core.states import RUN_ACTIVE  # noqa: E402
from webapp.web.services import get_session  # noqa: E402
from webapp.web.services import runtime  # noqa: E402


class CountingSink:
    """Accepts every message and counts it; the bench measures the product, not the sink."""

    def __init__(self):
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        return "250 OK"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--attempts", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--consumers", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=200)
    parser.add_argument("--worker-type", default="thread", choices=("thread", "process"))
    parser.add_argument("--redis", default="", help="a Redis URL for the queue instead of SQLite")
    args = parser.parse_args()

    sink = CountingSink()
    smtp_port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    env = dict(
        os.environ,
        SMTP_SERVER="127.0.0.1",
        SMTP_PORT=str(smtp_port),
        SMTP_SECURITY="none",
        REPORT_CHUNK_SIZE=str(args.chunk),
    )
    if args.redis:
        env.update(REDIS_URL=args.redis, HUEY_NAME=f"bench-{os.getpid()}")

    app = create_app()
    with app.app_context():
        create_tables(runtime().engine)
        session = get_session()
        t = time.perf_counter()
        seeded = demo.seed(session, users=args.users, months=2, seed=11, attempts=args.attempts)
        print(
            f"seeded {seeded['learners']:,} learners, {seeded['attempts']:,} attempts "
            f"in {time.perf_counter() - t:.1f} s"
        )

    consumers = [
        start_consumer(
            env,
            WORK,
            f"consumer{i}",
            *(("-n",) if i else ()),
            "-w",
            str(args.workers),
            "-k",
            args.worker_type,
        )
        for i in range(args.consumers)
    ]
    month = Month.last_full()
    times = []
    try:
        for n in range(args.repeat):
            with app.app_context():
                session = get_session()
                session.execute(delete(Delivery))
                session.execute(delete(ReportRun))
                session.commit()
                before = sink.count
                started = time.perf_counter()
                run = launch.start_all(session, month, mail_from="Bench <bench@quiz.example>")
                if args.redis:
                    print("note: the bench enqueues through the SQLite queue only", flush=True)
                enqueue.run(run)
                while True:
                    session.expire_all()
                    state = session.get(ReportRun, run.id).state
                    if state not in RUN_ACTIVE:
                        break
                    time.sleep(0.05)
                elapsed = time.perf_counter() - started
                sent = sink.count - before
                times.append(elapsed)
                print(
                    f"run {n + 1}: {sent:,} messages in {elapsed:.2f} s "
                    f"({sent / elapsed:,.0f} messages/s), run state {state}",
                    flush=True,
                )
    finally:
        for c in consumers:
            c.stop()
        controller.stop()
    print(
        f"median over {len(times)} runs: {statistics.median(times):.2f} s for "
        f"{args.users:,} learners ({args.consumers} consumer(s) x {args.workers} "
        f"{args.worker_type} workers)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
