"""The global send rate limit across separate processes, on both stores."""

import json
import os
import subprocess
import sys
import time

from tests.helpers.ratelimit import CHILD
from tests.helpers.ratelimit import RATE
from tests.helpers.ratelimit import N
from tests.helpers.ratelimit import assert_rate_held
from tests.helpers.stack import ROOT


def test_processes_share_one_rate(limiter_store):
    config = {**limiter_store, "MAIL_RATE_PER_SECOND": RATE, "MAIL_RATE_PER_HOUR": 0}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, json.dumps(config), str(N // 2)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for child in children:
            assert child.stdout.readline().strip() == "ready"
        start = time.monotonic()
        for child in children:
            child.stdin.write("go\n")
            child.stdin.flush()
        outputs = [child.communicate(timeout=60)[0] for child in children]
        elapsed = time.monotonic() - start
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    assert [child.returncode for child in children] == [0, 0]
    a, b = (json.loads(out) for out in outputs)
    # Whether the two processes interleave depends on the machine's load (SQLite's busy
    # handler may let one run ahead); the limit must hold across them either way.
    assert len(a) == len(b) == N // 2
    assert_rate_held(a + b, elapsed)
