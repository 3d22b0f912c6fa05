"""Fault injection with real processes: workers killed, consumers stopped, Redis restarted.

Each scenario runs a month of a few hundred learners on two consumers sharing a Redis queue
(the first runs the periodic reaper, the second takes -n), breaks something mid-run, lets the
product recover, then checks the invariants of tests/helpers/invariants.py.
"""

import signal
import time

import pytest

from tests.helpers.faults import STALL_SECONDS
from tests.helpers.faults import Scenario
from tests.helpers.smtp import FaultPlan
from tests.helpers.smtp import received_by_address

pytestmark = [pytest.mark.consumer, pytest.mark.redis]


def _kill_and_restart(sc: Scenario, point: str, victim: str, workers: int = 2):
    """Run with `victim` SIGKILLing itself at `point`; restart it once the ledger is quiet."""
    stack = sc.stack()
    for name, periodic in (("consumer0", True), ("consumer1", False)):
        extra = {"FAULT_KILL_AT": point, "workers": workers} if name == victim else {}
        if name == victim and workers == 1:
            # One worker thread and one SMTP connection: one delivery in flight at the kill
            # (with more sending lanes, another could sit in DATA at that moment too).
            extra["SMTP_MAX_CONNECTIONS"] = 1
        stack.start_consumer(name, periodic=periodic, **extra)
    stack.start_web()
    stack.wait_ready()
    task_id = sc.start_run(stack)
    assert stack.wait_killed(victim) == -signal.SIGKILL
    # The victim's task died with it. Once its claims expire and the run shows no progress,
    # the restarted consumer's reaper (at start-up) drives what is left from the ledger.
    sc.wait_quiet(stack)
    stack.start_consumer(victim, periodic=victim == "consumer0")
    sc.wait_finished(stack, task_id)
    return stack, task_id


CRASH_POINTS = [
    # crash point, the consumer that dies (consumer0 runs the periodic reaper)
    ("after_render", "consumer1"),
    ("after_claim", "consumer1"),
    ("after_commit:30", "consumer0"),
]


@pytest.mark.parametrize(("point", "victim"), CRASH_POINTS, ids=[p for p, _ in CRASH_POINTS])
def test_worker_sigkilled_mid_run_then_restarted_mails_everyone_exactly_once(sc, point, victim):
    stack, task_id = _kill_and_restart(sc, point, victim)
    sc.check(f"SIGKILL at {point}, consumer restarted", stack, task_id)
    sc.assert_no_more_mail(stack)


def test_worker_sigkilled_after_the_servers_250_leaves_one_message_marked_unknown_not_resent(sc):
    # One worker thread in the victim, so exactly one delivery is caught in the window.
    stack, task_id = _kill_and_restart(sc, "after_250_before_commit", "consumer1", workers=1)
    figures = sc.check("SIGKILL after 250, before commit", stack, task_id, unknown=1)
    assert figures.unknown_received == 1
    sc.assert_no_more_mail(stack)

    # Only an admin's Resend mails it again: once more, with the same Message-ID.
    [(address, row)] = [
        (a, d) for a, d in sc.ledger.deliveries(sc.world.month).items() if d.state == "unknown"
    ]
    status, body, _ = sc.resend(stack, sc.world.emails[address])
    assert status == 202, body
    sc.wait_finished(stack, body["task_id"])
    counts, message_ids = received_by_address(sc.smtp)
    assert counts[address] == 2 and message_ids[address] == {row.message_id}
    assert sc.ledger.deliveries(sc.world.month)[address].state == "sent"


def test_worker_sigkilled_after_marking_handed_over_before_data_is_unknown_with_no_message(sc):
    stack, task_id = _kill_and_restart(sc, "before_data", "consumer1", workers=1)
    figures = sc.check("SIGKILL before DATA (handed over)", stack, task_id, unknown=1)
    assert figures.unknown_received == 0
    sc.assert_no_more_mail(stack)


def test_every_consumer_sigkilled_mid_run_new_ones_take_the_work_back_within_a_minute(
    tmp_path, smtp_server, redis_queue
):
    # Production's lease (300 s) and stall time (60 s): only the dead consumers' silent
    # heartbeats can bring their claims and their run back this soon.
    sc = Scenario(tmp_path, smtp_server, redis_queue, learners=400)
    try:
        sc.smtp.plan = FaultPlan(sleep_at_rcpt={"*": 0.01})
        stack = sc.stack(sc.env(LEASE_SECONDS=300, REAPER_STALL_SECONDS=60))
        stack.start_consumers(2)
        stack.start_web()
        stack.wait_ready()
        task_id = sc.start_run(stack)
        sc.wait_messages(60)
        for consumer in stack.consumers.values():
            consumer.proc.kill()
        for consumer in stack.consumers.values():
            assert consumer.stop() == -signal.SIGKILL
        assert sc.task_status(stack, task_id)["state"] == "PROGRESS"

        restarted = time.perf_counter()
        stack.start_consumer("consumer0", periodic=True)
        stack.start_consumer("consumer1", periodic=False)
        sc.wait_finished(stack, task_id, timeout=90)
        recovered = time.perf_counter() - restarted

        sc.check("every consumer SIGKILLed at 60 mails, two new ones", stack, task_id)
        sc.assert_no_more_mail(stack)
        print(f"run finished {recovered:.1f} s after the new consumers started")
    finally:
        sc.close()


def test_consumer_sigterm_mid_run_releases_its_claims_requeues_and_mails_everyone_once(sc):
    sc.smtp.plan = FaultPlan(sleep_at_rcpt={"*": 0.01})  # a run of a few seconds
    stack = sc.standard_stack()
    task_id = sc.start_run(stack)
    sc.wait_messages(60)
    stack.consumers["consumer0"].stop(signal.SIGTERM)
    log = stack.consumers["consumer0"].log()
    assert "task requeued" in log, log[-3000:]
    # consumer1 takes the requeued chunk; claims taken after the release expire and the
    # restarted consumer's reaper gives them back.
    sc.wait_quiet(stack)
    stack.start_consumer("consumer0", periodic=True)
    sc.wait_finished(stack, task_id)
    sc.check("SIGTERM mid-run, consumer restarted", stack, task_id)
    sc.assert_no_more_mail(stack)


def test_redis_restarted_mid_run_with_appendonly_loses_no_task_and_mails_everyone_once(sc):
    redis_server = sc.own_redis(appendonly=True)
    sc.smtp.plan = FaultPlan(sleep_at_rcpt={"*": 0.01})  # a run of a few seconds
    stack = sc.standard_stack()
    task_id = sc.start_run(stack)
    sc.wait_messages(60)
    redis_server.shutdown()
    time.sleep(1)  # the fault itself: Redis stays down for a second mid-run
    redis_server.start()
    sc.wait_finished(stack, task_id, timeout=60)
    sc.check("Redis restarted mid-run, appendonly yes", stack, task_id)
    sc.assert_no_more_mail(stack)


def test_redis_restarted_empty_mid_run_the_reaper_drives_the_run_again_from_the_ledger(sc):
    redis_server = sc.own_redis(appendonly=False)
    sc.smtp.plan = FaultPlan(sleep_at_rcpt={"*": 0.01})
    stack = sc.standard_stack()
    task_id = sc.start_run(stack)
    sc.wait_messages(60)
    redis_server.shutdown()  # SHUTDOWN NOSAVE: the queue, the schedule and snapshots are gone
    ticks = stack.periodic_reaps()
    time.sleep(1)  # the fault itself: Redis stays down for a second mid-run
    redis_server.start()
    sc.wait_quiet(stack)
    left = sc.ledger.states()["pending"]
    # The periodic reaper would find the run stalled within a minute (the half-minute run is
    # itself a task scheduled in Redis, lost with it); ring it now to keep the suite short.
    # (The web app is not polled before the reaper has run: task-status republishes a
    # missing snapshot, and the reaper reads a fresh snapshot as progress.)
    reaped = sc.doorbell(stack).reap_now().get(blocking=True, timeout=15)
    if stack.periodic_reaps() == ticks:  # else the minute's reaper may have done it already
        assert left > 0, "the lost queue should have left work behind"
        assert reaped["redriven"] == 1, reaped
    sc.wait_finished(stack, task_id, timeout=60)
    sc.check("Redis restarted mid-run, no persistence", stack, task_id)
    sc.assert_no_more_mail(stack)


def test_redis_down_when_a_run_is_posted_answers_202_and_the_reaper_drives_it_later(sc):
    redis_server = sc.own_redis(appendonly=False)
    stack = sc.standard_stack()
    redis_server.shutdown()
    status, body, _ = sc.post_run(stack)
    assert status == 202, (status, body)
    task_id = body["task_id"]
    assert sc.ledger.run(task_id).state == "queued"  # committed; only the doorbell failed
    ticks = stack.periodic_reaps()
    redis_server.start()
    # The queued run is older than the stall time: the reaper enqueues it. Letting that time
    # pass is the point here (nothing in the ledger moves meanwhile to wait for).
    time.sleep(STALL_SECONDS + 0.5)
    reaped = sc.doorbell(stack).reap_now().get(blocking=True, timeout=15)
    if stack.periodic_reaps() == ticks:  # else the minute's reaper may have done it already
        assert reaped["redriven"] == 1, reaped
    sc.wait_finished(stack, task_id, timeout=60)
    sc.check("Redis down at POST, 202, reaper drives", stack, task_id)
