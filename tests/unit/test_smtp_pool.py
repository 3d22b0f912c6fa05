"""The SMTP connections of a worker process: capped, reused, and one failed login a process."""

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy import update

from tests.helpers.smtp import SmtpTestServer
from tests.helpers.waiting import eventually
from webapp.core.clock import utcnow
from webapp.core.mail import slots
from webapp.core.mail.pool import SmtpPool
from webapp.core.mail.slots import ConnectionSlots
from webapp.core.mail.smtp_errors import RunStoppingError
from webapp.core.models import SmtpSlot

FROM = "Quiz Reports <reports@quiz.example>"
PASSWORD = "s3cret-Pa55word"


def message(to: str) -> bytes:
    return f"From: {FROM}\r\nTo: {to}\r\nSubject: x\r\n\r\nHello\r\n".encode()


def in_lanes(count: int, work) -> list:
    """Run work(lane) in `count` threads at once; what each returned or raised."""
    results: list = [None] * count
    start = threading.Barrier(count)

    def lane(n: int) -> None:
        start.wait()
        try:
            results[n] = work(n)
        except Exception as exc:  # noqa: BLE001  (the test looks at what each lane met)
            results[n] = exc

    threads = [threading.Thread(target=lane, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_connections_are_reused_from_lane_to_lane(smtp_server):
    pool = SmtpPool(smtp_server.settings(), size=2)
    for n in range(6):
        with pool.session() as smtp:
            to = f"learner{n}@example.test"
            assert smtp.send(FROM, to, message(to))[0] == 250
    pool.close()
    assert len(smtp_server.wait_for(6)) == 6
    assert smtp_server.connections == 1


def test_no_more_connections_than_the_cap(smtp_server):
    pool = SmtpPool(smtp_server.settings(), size=3)
    open_now, most = [0], [0]
    lock = threading.Lock()

    def lane(n: int) -> int:
        with pool.session() as smtp:
            with lock:
                open_now[0] += 1
                most[0] = max(most[0], open_now[0])
            for k in range(5):
                to = f"lane{n}-{k}@example.test"
                smtp.send(FROM, to, message(to))
            with lock:
                open_now[0] -= 1
        return n

    assert in_lanes(8, lane) == list(range(8))
    pool.close()
    assert len(smtp_server.wait_for(40)) == 40
    assert most[0] <= 3 and smtp_server.connections <= 3


def test_a_wrong_password_costs_one_login_however_many_lanes_ask():
    with SmtpTestServer(credentials=("reports", "the-real-one")) as server:
        pool = SmtpPool(server.settings(password=PASSWORD), size=8)

        def lane(n: int):
            with pool.session() as smtp:
                smtp.send(FROM, f"x{n}@example.test", message(f"x{n}@example.test"))

        results = in_lanes(8, lane)
        assert all(isinstance(r, RunStoppingError) and r.code == 535 for r in results)
        assert all(PASSWORD not in r.reason for r in results)
        assert server.connections == 1
        assert server.messages == []


def test_a_pool_of_no_connections_is_refused(smtp_server):
    with pytest.raises(ValueError, match="SMTP_MAX_CONNECTIONS"):
        SmtpPool(smtp_server.settings(), size=0)


# --- SMTP_MAX_CONNECTIONS_TOTAL: slots shared by every process, in the database ---------------


def slots_of(app, total: int) -> ConnectionSlots:
    """One process's view of the shared slots (each test "process" gets its own)."""
    return ConnectionSlots(app.extensions["runtime"].engine.connect, total)


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_processes_together_hold_no_more_connections_than_the_total(app, smtp_server):
    pools = [SmtpPool(smtp_server.settings(), size=3, shared=slots_of(app, 2)) for _ in range(3)]
    open_now, most = [0], [0]
    lock = threading.Lock()

    def lane(n: int) -> int:
        with pools[n % 3].session() as smtp:
            with lock:
                open_now[0] += 1
                most[0] = max(most[0], open_now[0])
            to = f"lane{n}@example.test"
            smtp.send(FROM, to, message(to))
            time.sleep(0.02)
            with lock:
                open_now[0] -= 1
        return n

    assert in_lanes(9, lane) == list(range(9))
    for pool in pools:
        pool.close()
    assert len(smtp_server.wait_for(9)) == 9
    assert most[0] == 2
    # No idle connection kept: it would hold a slot another process may wait for.
    assert smtp_server.connections == 9
    assert all(not pool.shared.held() for pool in pools)


def test_a_slot_whose_holder_stopped_is_taken_over_when_its_lease_runs_out(app):
    stopped, alive = slots_of(app, 1), slots_of(app, 1)
    assert stopped.acquire() == 1  # and never released: the process died,
    stopped._stopped.set()  # and its renewing thread with it
    waiting = threading.Thread(target=alive.acquire)
    waiting.start()
    waiting.join(0.3)
    assert waiting.is_alive()  # the lease still runs
    with app.extensions["runtime"].engine.begin() as db:
        db.execute(update(SmtpSlot).values(lease_until=utcnow() - timedelta(seconds=1)))
    waiting.join(5)
    assert not waiting.is_alive() and alive.held() == {1}
    alive.close()


def test_a_holder_keeps_its_slots_leased_while_it_runs(app, monkeypatch):
    monkeypatch.setattr(slots, "RENEW_SECONDS", 0.05)
    holder = slots_of(app, 1)
    holder.acquire()
    engine = app.extensions["runtime"].engine
    soon = utcnow() + timedelta(seconds=1)
    with engine.begin() as db:
        db.execute(update(SmtpSlot).values(lease_until=soon))

    def renewed() -> bool:
        with engine.connect() as db:
            return db.scalar(select(SmtpSlot.lease_until)) > soon + timedelta(seconds=30)

    eventually(renewed, timeout=5)
    holder.close()
    with engine.connect() as db:
        assert db.execute(select(SmtpSlot.holder, SmtpSlot.lease_until)).all() == [(None, None)]
