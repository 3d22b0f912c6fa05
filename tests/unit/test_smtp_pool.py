"""The SMTP connections of a worker process: capped, reused, and one failed login a process."""

import threading

import pytest

from tests.helpers.smtp import SmtpTestServer
from webapp.core.mail.pool import SmtpPool
from webapp.core.mail.smtp_errors import RunStoppingError

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
