"""Runs in a real browser: dry run, the bar to 100 % and a poll that stops, resend,
retry failed, cancel, and the preview with its test send."""

import time

import pytest
from playwright.sync_api import Page
from playwright.sync_api import expect
from sqlalchemy import select

from tests.helpers.browser import playwright_pause
from tests.helpers.browser import shot
from tests.helpers.browser import sign_in
from tests.helpers.browser import start_run
from tests.helpers.browser import wait_for_state
from tests.helpers.factories import ADMIN_EMAIL
from tests.helpers.factories import MONTH
from tests.helpers.smtp import FaultPlan
from tests.helpers.smtp import SmtpTestServer
from tests.helpers.waiting import eventually
from tests.helpers.waiting import settled
from tests.helpers.waiting import stays_true
from webapp.core.models import Delivery

pytestmark = pytest.mark.browser


def _recipients(smtp: SmtpTestServer) -> list[str]:
    """Who the messages at the server went to, in order."""
    return [m.rcpt_tos[0] for m in smtp.messages]


def _settled(smtp: SmtpTestServer, seconds: float = 1.0) -> int:
    """The message count once nothing more has arrived for `seconds`."""
    return settled(lambda: len(smtp.messages), quiet=seconds)


def test_dry_run_then_the_bar_reaches_100_and_the_poll_stops(page: Page, make_stack, smtp_server):
    stack = make_stack(extra_learners=40)
    smtp_server.plan = FaultPlan(sleep_in_data={"*": 0.03})  # long enough to watch it move
    sign_in(page, stack)
    page.get_by_label("Month").fill(MONTH)
    page.get_by_role("button", name="Dry run first").click()
    summary = page.locator(".dry-run-summary")
    expect(summary).to_have_text("45 would be mailed, 1 would be skipped. Nothing has been sent.")
    expect(page.locator(".dry-run")).to_contain_text("Nadia Nomail — no email address on file")
    assert smtp_server.messages == []

    polls: list[float] = []
    page.on("request", lambda r: polls.append(time.monotonic()) if "/progress" in r.url else None)
    start_run(page)
    wait_for_state(page, "done")
    bar = page.locator("#run-bar")
    expect(bar).to_have_attribute("aria-valuenow", "45")
    expect(bar).to_have_attribute("aria-valuemax", "45")
    expect(page.locator("#progress-text")).to_have_text("45 sent — 45 of 45 decided")
    assert polls, "the page never polled while the run was going"
    after_final = len(polls)
    stays_true(
        lambda: len(polls) == after_final,
        seconds=3,
        interval=0.25,
        message="the poll went on after the final state was shown",
        pause=playwright_pause(page),
    )
    assert len(polls) == after_final, "the poll went on after the final state was shown"
    # The deliveries list reloaded itself when the counts moved.
    expect(page.locator("#deliveries")).to_contain_text("45 reports")
    expect(page.locator("#deliveries tbody .badge-good").first).to_contain_text("Sent")
    assert len(smtp_server.messages) == 45


def test_resend_one_report_double_clicked_sends_exactly_one_more(page: Page, stack, smtp_server):
    sign_in(page, stack)
    start_run(page)
    wait_for_state(page, "done")
    before = _settled(smtp_server, 0.5)
    assert before == 5

    row = page.locator("tr", has_text="Priya Raman")
    row.get_by_role("button", name="Resend to Priya Raman").dblclick()
    expect(page.locator("tr", has_text="Priya Raman")).to_contain_text("again in run #2")
    shot(page, "23-run-after-resend")
    eventually(lambda: len(smtp_server.messages) > before, timeout=10)
    assert _settled(smtp_server) == before + 1
    assert _recipients(smtp_server).count("priya.raman@example.test") == 2


def test_retry_failed_after_a_550_is_fixed(page: Page, stack, smtp_server):
    # A policy refusal: a 5.1.1 (no such mailbox) would put her on the suppression list.
    smtp_server.plan = FaultPlan(rcpt={"lena.fischer@example.test": "550 5.7.1 Refused by policy"})
    sign_in(page, stack)
    start_run(page)
    wait_for_state(page, "done")
    failed = page.locator("#run-progress .count", has_text="Failed")
    expect(failed).to_contain_text("1")
    page.get_by_role("link", name="Failed 1", exact=True).click()
    row = page.locator("#deliveries tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Lena Fischer")
    expect(row).to_contain_text("mailbox unavailable (550 5.7.1 Refused by policy)")
    assert "lena.fischer@example.test" not in _recipients(smtp_server)
    shot(page, "22-run-failed-filter")

    smtp_server.plan = FaultPlan()
    page.get_by_role("button", name="Retry failed (1)").click()
    page.get_by_role("button", name="Send 1 report again").click()
    wait_for_state(page, "done")
    expect(failed).to_contain_text("0")
    expect(page.locator("#run-progress .count", has_text="Sent")).to_contain_text("5")
    eventually(lambda: "lena.fischer@example.test" in _recipients(smtp_server), timeout=10)
    assert _settled(smtp_server, 0.5) == 5


def test_cancel_a_running_run_stops_sending(page: Page, make_stack, smtp_server, ledger):
    stack = make_stack(extra_learners=30)
    # 35 learners over the worker's 8 connections, 2 s each: about 9 s for the whole run.
    smtp_server.plan = FaultPlan(sleep_in_data={"*": 2.0})
    sign_in(page, stack)
    start_run(page)
    wait_for_state(page, "running")
    eventually(lambda: len(smtp_server.messages) >= 2, timeout=15)
    shot(page, "20-run-going")
    page.get_by_role("button", name="Cancel run").click()
    page.get_by_role("button", name="Cancel run #1").click()
    wait_for_state(page, "cancelled")
    expect(page.locator("#run-progress .notice")).to_contain_text("Run cancelled")
    shot(page, "21-run-cancelled")
    # The server has each message 2 s before it says 250: wait for those replies too.
    eventually(lambda: ledger.states()["sending"] == 0, timeout=15)
    sent = _settled(smtp_server)
    assert 2 <= sent < 35
    recipients = _recipients(smtp_server)
    assert len(recipients) == len(set(recipients))  # nobody mailed twice
    with ledger.session() as s:
        states = s.scalars(select(Delivery.state)).all()
    assert states.count("sent") == sent
    assert states.count("cancelled") == 35 - sent


def test_preview_shows_the_learners_figures_and_a_test_goes_to_me(
    page: Page, stack, smtp_server, ledger
):
    sign_in(page, stack)
    page.get_by_role("link", name="Learners").click()
    page.get_by_label("Name or email").fill("priya")
    expect(page.locator("#learner-results tbody tr")).to_have_count(1)
    page.get_by_role("link", name="Priya Raman").click()
    page.get_by_role("link", name="Preview December 2024").click()

    frame = page.frame_locator("iframe.email-frame")
    expect(frame.locator("body")).to_contain_text("Priya Raman")
    expect(frame.locator("body")).to_contain_text("80.0%")  # 7/10 and 9/10
    expect(frame.locator("body")).to_contain_text("Linear equations")
    expect(page.locator(".headers")).to_contain_text("Your quiz report — December 2024")
    page.get_by_role("link", name="Plain text").click()
    expect(page.locator(".email-text")).to_contain_text("Average score:   80.0%")

    page.get_by_role("button", name="Send a test to me").click()
    expect(page.locator("#test-result")).to_contain_text("was sent to admin@example.test")
    [message] = smtp_server.wait_for(1)
    assert message.rcpt_tos == [ADMIN_EMAIL]
    assert message.email["Subject"] == "[Test] Your quiz report — December 2024"
    with ledger.session() as s:
        assert s.scalars(select(Delivery)).all() == []  # the learner's ledger is untouched
