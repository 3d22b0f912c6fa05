"""Runs in a real browser add up: a run cancelled part-way shows its sent and cancelled parts
and no success it did not have, and a paused run's card keeps up with its reports in flight."""

import re
import time

import pytest
from playwright.sync_api import Page
from playwright.sync_api import expect
from sqlalchemy import select

from tests.helpers.browser import playwright_pause
from tests.helpers.browser import problems_at_both_widths
from tests.helpers.browser import shot
from tests.helpers.browser import sign_in
from tests.helpers.browser import start_run
from tests.helpers.browser import wait_for_state
from tests.helpers.smtp import FaultPlan
from tests.helpers.waiting import eventually
from tests.helpers.waiting import stays_true
from webapp.core.models import ReportRun

pytestmark = pytest.mark.browser

LEARNERS = 35  # the browser world's 5 with an address, and 30 more


def _count(page: Page, name: str):
    return page.locator("#run-progress .count", has_text=name).locator("dd")


def _going_slowly(page: Page, make_stack, smtp_server) -> None:
    """A run of 35 on its page, sending: 2 s a message over the worker's 8 connections."""
    stack = make_stack(extra_learners=LEARNERS - 5)
    smtp_server.plan = FaultPlan(sleep_in_data={"*": 2.0})
    sign_in(page, stack)
    start_run(page)
    wait_for_state(page, "running")
    eventually(lambda: len(smtp_server.messages) >= 2, timeout=15)


def test_a_run_cancelled_part_way_shows_its_parts_and_no_success_it_did_not_have(
    page: Page, make_stack, smtp_server, ledger
):
    _going_slowly(page, make_stack, smtp_server)
    page.get_by_role("button", name="Cancel run").click()
    page.get_by_role("button", name="Cancel run #1").click()  # its question's answer
    wait_for_state(page, "cancelled")
    # The reports in flight at the cancel land afterwards; the card follows them by itself.
    eventually(lambda: ledger.states()["sending"] == 0, timeout=15)
    states = ledger.states()
    sent, cancelled = states["sent"], states["cancelled"]
    assert 2 <= sent < LEARNERS and sent + cancelled == LEARNERS
    legend = page.locator("#progress-text")
    expect(legend).to_have_text(f"{sent} sent, {cancelled} cancelled — 35 of 35 decided")
    expect(_count(page, "Sent")).to_have_text(str(sent))
    expect(page.locator(".success-line")).to_have_text(
        f"Success: 100 % ({sent} sent of {sent} attempted)."
    )
    bar = page.locator("#run-bar")
    expect(bar.locator("rect")).to_have_count(2)
    expect(bar.locator("rect.part-sent")).to_have_count(1)
    expect(bar.locator("rect.part-cancelled")).to_have_count(1)
    expect(page.locator("#run-progress .bar-percent")).to_have_count(0)
    expect(page.locator("#run-progress")).not_to_contain_text("finished")
    # The sending rate counts the sends only, over the run's time until the cancel: the
    # cancelled reports made it 35 over that time before.
    rate = page.locator("#run-progress .rate")
    expect(rate).to_contain_text(re.compile(r"Sending rate: [\d.,]+ reports/(s|min)"))
    rate_text = rate.inner_text()
    shown = float(re.search(r"Sending rate: ([\d.,]+)", rate_text)[1].replace(",", ""))
    per_second = shown if "/s" in rate_text else shown / 60
    with ledger.session() as s:
        run = s.scalars(select(ReportRun)).one()
        elapsed = (run.finished_at - run.started_at).total_seconds()
    assert per_second == pytest.approx(sent / elapsed, abs=0.06), rate_text
    # Nothing is in flight any more: the card has stopped asking.
    expect(page.locator("#run-progress")).not_to_have_attribute("hx-trigger", re.compile("."))
    assert problems_at_both_widths(page) == []
    shot(page, "run-cancelled-partway")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Runs").click()
    row = page.locator("#recent-runs tbody tr").first
    expect(row.locator('td[data-label="Cancelled"]')).to_have_text(str(cancelled))
    success = row.locator('td[data-label="Success"]')
    expect(success).to_contain_text("100 %")
    expect(success).to_contain_text(f"of {sent} attempted")
    assert problems_at_both_widths(page) == []


def test_a_paused_cards_counts_follow_the_reports_in_flight(
    page: Page, make_stack, smtp_server, ledger
):
    _going_slowly(page, make_stack, smtp_server)
    polls: list[float] = []
    page.on("request", lambda r: polls.append(time.monotonic()) if "/progress" in r.url else None)
    page.get_by_role("button", name="Pause").click()
    wait_for_state(page, "paused")
    paused_at = len(polls)
    # The workers stop before their next email, but those in flight still land: the card
    # shows them as they do, and agrees with the ledger and the deliveries listed below.
    eventually(lambda: ledger.states()["sending"] == 0, timeout=15)
    sent = ledger.states()["sent"]
    expect(_count(page, "Sent")).to_have_text(str(sent), timeout=10_000)
    legend = page.locator("#progress-text")
    percent = f"{100 * sent / LEARNERS:.1f}".removesuffix(".0")
    expect(legend).to_have_text(f"{sent} sent — {sent} of 35 decided ({percent} %)")
    expect(page.locator("#run-progress .rate")).to_contain_text("Time left: none while paused")
    sent_rows = page.locator("#deliveries tbody .badge-good", has_text="Sent")
    expect(sent_rows).to_have_count(sent)
    assert len(polls) > paused_at, "the paused card never asked again"
    # With nothing in flight it still asks, slowly, in case the run is resumed elsewhere.
    expect(page.locator("#run-progress")).to_have_attribute("hx-trigger", "every 5s")
    assert problems_at_both_widths(page) == []
    shot(page, "run-paused-refreshing")

    page.get_by_role("button", name="Resume").click()
    wait_for_state(page, "done", timeout=30_000)
    expect(legend).to_have_text("35 sent — 35 of 35 decided")
    expect(page.locator(".success-line")).to_have_text("Success: 100 % (35 sent of 35 attempted).")
    after_final = len(polls)
    stays_true(
        lambda: len(polls) == after_final,
        seconds=3,
        interval=0.25,
        message="the poll went on after the final state was shown",
        pause=playwright_pause(page),
    )
