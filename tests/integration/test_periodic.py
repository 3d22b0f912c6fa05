"""Periodic tasks run once a minute however many consumers schedule them (no -n needed)."""

import re
from collections import Counter

from tests.helpers import backends
from tests.helpers.factories import seed_database
from tests.helpers.stack import process_env
from tests.helpers.waiting import eventually

RAN = re.compile(r"periodic reap: runs in slot (\d+)")
SKIPPED = re.compile(r"periodic reap: another consumer runs it in slot (\d+)")


def test_two_consumers_with_periodic_tasks_reap_once_a_minute(tmp_path, stacks, smtp_server):
    seed_database(tmp_path, backends.database(tmp_path), 2)
    env = process_env(tmp_path, smtp_server.port)
    stack = stacks(env)
    for name in ("consumer0", "consumer1"):
        stack.start_consumer(name, periodic=True)  # neither with -n
    stack.wait_ready()

    def both_reaped() -> bool:
        # Each consumer's scheduler enqueues tasks.reap when it starts.
        return stack.periodic_reaps() >= 2

    eventually(both_reaped, timeout=30, message=stack.logs)
    logs = stack.logs(tail=10**6)
    ran = Counter(RAN.findall(logs))
    skipped = SKIPPED.findall(logs)
    assert ran and max(ran.values()) == 1, logs  # never twice in one minute
    assert set(skipped) <= set(ran)
    assert sum(ran.values()) + len(skipped) == stack.periodic_reaps()
