"""The sign-in counters (infra/attempts.py), in Redis and in the SQLite queue file: a try is
counted before its password is checked, atomically, so parallel tries get exactly the slots
the policy allows; delays grow per account and address; an address has a cap of its own."""

import threading
import time

import pytest

from webapp.infra.attempts import AttemptPolicy
from webapp.infra.attempts import attempt_limiter_for
from webapp.infra.settings import Settings


@pytest.fixture
def make_limiter(limiter_store):
    """make_limiter(**policy): counters on this test's Redis keys or SQLite file."""
    made = []

    def make(**policy):
        limiter = attempt_limiter_for(Settings().updated(limiter_store), AttemptPolicy(**policy))
        made.append(limiter)
        return limiter

    yield make
    for limiter in made:
        limiter.close()


def test_the_delays_double_after_the_free_tries_up_to_the_cap():
    policy = AttemptPolicy(free_tries=3, first_delay=2, max_delay=900)
    delays = [policy.delay_us(tries) / 1e6 for tries in range(1, 15)]
    assert delays == [0, 0, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900]
    assert policy.delay_us(10_000) == 900 * 1_000_000  # no overflow however many


def test_free_tries_go_at_once_then_the_next_waits(make_limiter):
    limiter = make_limiter(free_tries=3, first_delay=60)
    assert [limiter.take("pair:a:1", "addr:1") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.take("pair:a:1", "addr:1")
    assert 50 < wait <= 60
    # A refused try counts nothing: the wait does not grow by asking again.
    assert limiter.take("pair:a:1", "addr:1") <= wait


def test_each_further_failure_doubles_the_wait(make_limiter):
    limiter = make_limiter(free_tries=1, first_delay=0.4, max_delay=0.8)
    waits = []
    for _ in range(3):
        assert limiter.take("pair:a:1", "addr:1") == 0.0
        waits.append(limiter.take("pair:a:1", "addr:1"))
        time.sleep(waits[-1] + 0.01)
    # Each measured a moment after the try that set it: a little under 0.4, 0.8, 0.8 (the cap).
    for wait, expected in zip(waits, [0.4, 0.8, 0.8], strict=True):
        assert expected - 0.3 < wait <= expected


def test_an_account_waiting_at_one_address_is_free_at_another(make_limiter):
    limiter = make_limiter(free_tries=3)
    for _ in range(3):
        limiter.take("pair:admin:203.0.113.9", "addr:203.0.113.9")
    assert limiter.take("pair:admin:203.0.113.9", "addr:203.0.113.9") > 0
    assert limiter.take("pair:admin:198.51.100.7", "addr:198.51.100.7") == 0.0


def test_an_address_is_capped_over_every_account(make_limiter):
    limiter = make_limiter(per_address=5, address_window=600)
    assert [limiter.take(f"pair:{n}:1", "addr:1") for n in range(5)] == [0.0] * 5
    wait = limiter.take("pair:new:1", "addr:1")
    assert 590 < wait <= 600
    assert limiter.take("pair:new:2", "addr:2") == 0.0  # another address is not


def test_giving_back_forgets_the_pair_and_returns_the_address_slot(make_limiter):
    limiter = make_limiter(free_tries=2, per_address=3)
    limiter.take("pair:a:1", "addr:1")
    limiter.take("pair:a:1", "addr:1")
    assert limiter.take("pair:a:1", "addr:1") > 0
    limiter.give_back("pair:a:1", "addr:1")
    assert limiter.take("pair:a:1", "addr:1") == 0.0  # forgotten; the address has 2 of 3
    assert limiter.take("pair:b:1", "addr:1") == 0.0
    assert limiter.take("pair:c:1", "addr:1") > 0  # 3 of 3


def test_parallel_tries_get_exactly_the_free_slots(make_limiter):
    limiter = make_limiter(free_tries=3, per_address=1000)
    start = threading.Barrier(20)
    results = []

    def attempt():
        start.wait()
        results.append(limiter.take("pair:admin:1", "addr:1"))

    threads = [threading.Thread(target=attempt) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(0.0) == 3


def test_parallel_tries_at_many_accounts_get_exactly_the_address_cap(make_limiter):
    limiter = make_limiter(per_address=5)
    start = threading.Barrier(20)
    results = []

    def attempt(n):
        start.wait()
        results.append(limiter.take(f"pair:{n}:1", "addr:1"))

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(0.0) == 5
