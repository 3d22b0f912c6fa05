"""A real consumer says it is alive, and /readyz hears it; a graceful stop takes it off."""

from sqlalchemy import select

from tests.helpers import backends
from tests.helpers.factories import seed_database
from tests.helpers.ledger import LedgerView
from tests.helpers.stack import process_env
from tests.helpers.waiting import eventually
from webapp.core.models import WorkerBeat


def test_a_consumer_beats_while_it_runs_and_leaves_when_stopped(tmp_path, stacks, smtp_server):
    world = seed_database(tmp_path, backends.database(tmp_path), 3)
    env = process_env(tmp_path, smtp_server.port)
    stack = stacks(env)
    consumer = stack.start_consumer(workers=3)
    stack.start_web()
    ledger = LedgerView(tmp_path, world.url)
    try:
        _beats_then_leaves(stack, consumer, ledger)
    finally:
        ledger.close()


def _beats_then_leaves(stack, consumer, ledger) -> None:

    def beats() -> list:
        with ledger.session() as s:
            return s.execute(
                select(WorkerBeat.pid, WorkerBeat.worker_type, WorkerBeat.workers)
            ).all()

    eventually(lambda: beats() == [(consumer.proc.pid, "thread", 3)], timeout=20)
    status, body, _ = stack.api("GET", "/readyz")
    assert status == 200, body
    assert body["checks"]["workers"]["newest_heartbeat_seconds"] < 30

    consumer.stop()  # SIGINT: a graceful stop
    assert beats() == []
