"""Fault injection at the SMTP server: transient and permanent replies, bad credentials,
a server that is down, hangs, or drops the connection after the message data.

Each scenario runs a month of a few hundred learners on two consumers sharing a Redis queue
against the aiosmtpd test server (tests/helpers/smtp.py) following a FaultPlan, then checks
the invariants of tests/helpers/invariants.py.
"""

import pytest
from sqlalchemy import select

from tests.helpers.faults import Scenario
from tests.helpers.smtp import FaultPlan
from tests.helpers.smtp import FirstTries
from tests.helpers.waiting import eventually
from tests.helpers.waiting import stays_true
from webapp.core.models import Suppression

pytestmark = [pytest.mark.consumer, pytest.mark.redis]


def every(sc: Scenario, n: int, offset: int = 0) -> list[str]:
    """Every n-th learner address (sorted), starting at offset."""
    return sorted(sc.world.emails)[offset::n]


def test_421_on_ten_percent_first_try_is_retried_on_a_new_connection_and_sent_once(sc):
    at_rcpt, at_data = every(sc, 20), every(sc, 20, 10)  # 10 % in all
    sc.smtp.plan = FaultPlan(
        rcpt=dict.fromkeys(at_rcpt, FirstTries(1, "421 4.7.0 Too busy, try again later")),
        data=dict.fromkeys(at_data, FirstTries(1, "421 4.3.2 Closing, try again later")),
    )
    stack = sc.standard_stack()
    task_id = sc.start_run(stack)
    sc.wait_finished(stack, task_id)
    figures = sc.check("421 on 10 % (first try)", stack, task_id)
    rows = sc.ledger.deliveries(sc.world.month)
    assert {a for a, d in rows.items() if d.attempts == 2} == {*at_rcpt, *at_data}
    assert figures.retried == len(at_rcpt) + len(at_data)
    sc.assert_no_more_mail(stack)


def test_451_and_452_at_rcpt_twice_are_transient_retried_with_backoff_then_sent_once(sc):
    busy, full = every(sc, 12), every(sc, 12, 6)
    sc.smtp.plan = FaultPlan(
        rcpt={
            **dict.fromkeys(busy, FirstTries(2, "451 4.3.0 Local error, try later")),
            **dict.fromkeys(full, FirstTries(2, "452 4.2.2 Mailbox full, try later")),
        }
    )
    # The circuit breaker stays on (25): a recipient's 4xx is greylisting, not a failing
    # server, so even the 40 retries that fail in a row must not pause the run.
    stack = sc.standard_stack(CIRCUIT_BREAKER_FAILURES=25)
    task_id = sc.start_run(stack)
    sc.wait_finished(stack, task_id)
    sc.check("451/452 at RCPT (first two tries)", stack, task_id)
    rows = sc.ledger.deliveries(sc.world.month)
    assert {a for a, d in rows.items() if d.attempts == 3} == {*busy, *full}
    for address in (*busy, *full):
        assert sc.smtp.attempts[("rcpt", address)] == 3
    sc.assert_no_more_mail(stack)


def test_550_for_two_addresses_fails_them_at_once_with_the_reason_and_mails_the_rest(sc):
    gone, refused = every(sc, 100, 7)[:2]
    # A mailbox that does not exist (a hard bounce: listed at once), and a policy refusal.
    replies = {gone: "550 5.1.1 No such user here", refused: "550 5.7.1 Refused by policy"}
    sc.smtp.plan = FaultPlan(rcpt=replies)
    stack = sc.standard_stack()
    task_id = sc.start_run(stack)
    data = sc.wait_finished(stack, task_id)
    sc.check("550 at RCPT for 2 addresses", stack, task_id, failed=dict.fromkeys(replies, 550))
    assert data["result"]["summary"]["failed"] == 2
    for address in replies:
        assert sc.smtp.attempts[("rcpt", address)] == 1, "a 5xx recipient was retried"
    errors = {r["user_id"]: r["error"] for r in data["result"]["results"] if not r["success"]}
    assert set(errors) == {sc.world.emails[a] for a in replies}
    for address, reply in replies.items():
        assert reply in errors[sc.world.emails[address]], errors
    with sc.ledger.session() as session:
        listed = dict(session.execute(select(Suppression.user_id, Suppression.reason)).all())
    assert listed == {sc.world.emails[gone]: "hard_bounce"}
    # A new start takes over the policy refusal only; the missing mailbox is not tried again.
    sc.assert_no_more_mail(stack, retaken=1)


def test_535_at_login_pauses_the_run_at_once_with_the_reason_and_no_retry_storm(
    sc, make_smtp_server
):
    server = make_smtp_server(credentials=("reports", "right-password"))
    sc.smtp = server
    env = dict(SMTP_PORT=server.port, SMTP_USERNAME="reports", SMTP_PASSWORD="wrong-password")
    stack = sc.standard_stack(**env)
    task_id = sc.start_run(stack)
    data = sc.wait_state(stack, task_id, "paused")
    assert "535" in data["pause_reason"] and "authentication failed" in data["pause_reason"]
    assert "Paused" in data["status"] and "535" in data["status"]
    # Longer than the stall time and a lease: nothing retries a paused run.
    stays_true(
        lambda: server.messages == [] and server.connections <= 4,
        seconds=3,
        message=lambda: f"{len(server.messages)} sent, {server.connections} logins while paused",
    )
    assert server.messages == []
    print(f"\n535: {server.connections} connection(s) before the run paused")
    assert 1 <= server.connections <= 4, f"{server.connections} logins: a retry storm"
    assert sc.ledger.states() == {"pending": sc.world.learners}, "a delivery was charged"
    assert sc.task_status(stack, task_id)["run_state"] == "paused"

    # An admin fixes the password and resumes: every learner is mailed once.
    connections = server.connections
    for name in ("consumer0", "consumer1"):
        stack.consumers[name].stop()
        stack.start_consumer(name, periodic=name == "consumer0", SMTP_PASSWORD="right-password")
    assert server.connections == connections
    sc.resume(stack, task_id)
    sc.wait_finished(stack, task_id)
    sc.check("535 at AUTH: paused, then resumed", stack, task_id)
    sc.assert_no_more_mail(stack)


def test_smtp_server_down_at_start_is_retried_with_backoff_and_everyone_mailed_once(sc):
    sc.smtp.stop()
    stack = sc.standard_stack(CIRCUIT_BREAKER_FAILURES=0, MAX_SEND_ATTEMPTS=10)
    task_id = sc.start_run(stack)

    def retried():  # every learner tried at least once, some twice, none sent or given up
        attempts = _attempts(sc)
        all_pending = sc.ledger.states()["pending"] == sc.world.learners
        return all_pending and min(attempts) >= 1 and max(attempts) >= 2

    eventually(retried, timeout=20, message="no transient retries while the server was down")
    sc.smtp.start()  # the same port
    sc.wait_finished(stack, task_id)
    figures = sc.check("SMTP down at start, back later", stack, task_id)
    assert figures.retried == figures.learners
    sc.assert_no_more_mail(stack)


def test_smtp_server_down_trips_the_circuit_breaker_which_pauses_until_resumed(sc):
    sc.smtp.stop()
    stack = sc.standard_stack(CIRCUIT_BREAKER_FAILURES=25)
    task_id = sc.start_run(stack)
    data = sc.wait_state(stack, task_id, "paused")
    assert "25 sends failed in a row" in data["pause_reason"], data
    assert "connection refused" in data["pause_reason"], data
    sc.smtp.start()
    stays_true(lambda: sc.smtp.messages == [], seconds=2.5, message="a paused run sent mail")
    assert sc.smtp.messages == [], "a paused run sent mail"
    sc.resume(stack, task_id)
    sc.wait_finished(stack, task_id)
    sc.check("SMTP down: circuit breaker paused, resumed", stack, task_id)
    sc.assert_no_more_mail(stack)


def test_smtp_server_hanging_or_dropping_after_data_is_unknown_never_resent(sc):
    hang_after_data = every(sc, 60, 3)  # the reply comes after SMTP_TIMEOUT
    drop_after_data = every(sc, 60, 33)  # the connection closes with no reply
    hang_at_rcpt = every(sc, 60, 13)  # before DATA: a timeout is transient
    sc.smtp.plan = FaultPlan(
        sleep_in_data=dict.fromkeys(hang_after_data, 3.0),
        drop_after_data=drop_after_data,
        sleep_at_rcpt=dict.fromkeys(hang_at_rcpt, FirstTries(1, 3.0)),
    )
    stack = sc.standard_stack(SMTP_TIMEOUT=1)
    task_id = sc.start_run(stack)
    sc.wait_finished(stack, task_id)
    unknown = {*hang_after_data, *drop_after_data}
    figures = sc.check(
        "SMTP hangs / drops after DATA; hangs at RCPT", stack, task_id, unknown=len(unknown)
    )
    assert figures.unknown_received == len(unknown)
    rows = sc.ledger.deliveries(sc.world.month)
    assert {a for a, d in rows.items() if d.state == "unknown"} == unknown
    assert all(rows[a].attempts == 2 and rows[a].state == "sent" for a in hang_at_rcpt)
    sc.assert_no_more_mail(stack)


def _attempts(sc: Scenario) -> list[int]:
    """How many attempts each learner's delivery has had."""
    return [d.attempts for d in sc.ledger.deliveries(sc.world.month).values()]
