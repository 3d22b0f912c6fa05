"""Mass actions ask first, in a real browser: starting a run (with htmx, and without
JavaScript), cancelling one, sending its failures again, and a dry run's "Send these N" with
its list as CSV. axe at 1440 and 390 px on every question."""

import csv
import io
from pathlib import Path

import pytest
from playwright.sync_api import Page
from playwright.sync_api import expect

from tests.helpers.browser import problems_at_both_widths
from tests.helpers.browser import shot
from tests.helpers.browser import sign_in
from tests.helpers.browser import start_run
from tests.helpers.browser import wait_for_state
from tests.helpers.factories import ADMIN_EMAIL
from tests.helpers.factories import MONTH
from tests.helpers.factories import PASSWORD
from tests.helpers.smtp import FaultPlan
from tests.helpers.waiting import eventually
from tests.helpers.waiting import settled

pytestmark = pytest.mark.browser


def _count(smtp_server) -> int:
    return settled(lambda: len(smtp_server.messages), quiet=0.5)


def test_start_asks_first_and_go_back_keeps_the_form(page: Page, stack, smtp_server):
    sign_in(page, stack)
    page.get_by_label("Month").fill(MONTH)
    page.get_by_label("Subject").fill("December news")
    page.get_by_role("button", name="Start run").click()

    panel = page.locator("#confirm-panel")
    heading = panel.get_by_role("heading", name="Send 5 reports for December 2024?")
    expect(heading).to_be_visible()
    expect(heading).to_be_focused()  # read out first by a screen reader
    expect(panel).to_contain_text("5 learners get their report for December 2024 by email")
    expect(panel).to_contain_text("December news")
    expect(panel).to_contain_text("No email address on file (1 learner)")
    assert problems_at_both_widths(page) == []
    shot(page, "confirm-start")
    assert _count(smtp_server) == 0

    panel.get_by_role("link", name="Go back").click()
    expect(page.get_by_label("Month")).to_have_value(MONTH)
    expect(page.get_by_label("Subject")).to_have_value("December news")
    assert _count(smtp_server) == 0

    page.get_by_role("button", name="Start run").click()
    page.locator("#confirm-panel").get_by_role("button", name="Send 5 reports").click()
    page.wait_for_url("**/runs/1")
    wait_for_state(page, "done")
    eventually(lambda: len(smtp_server.messages) == 5, timeout=10)
    assert _count(smtp_server) == 5


def test_start_asks_first_without_javascript(page: Page, stack, smtp_server):
    # Without htmx the forms post as plain HTML forms: the question is a page of its own.
    # (axe itself needs JavaScript, so it looks at this page with htmx kept out.)
    page.route("**/js/htmx-*.js", lambda route: route.abort())
    sign_in(page, stack)
    page.get_by_label("Month").fill(MONTH)
    page.get_by_role("button", name="Start run").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Send 5 reports for December 2024?")
    expect(page).to_have_title("Send 5 reports for December 2024? · Quiz Reports")
    assert problems_at_both_widths(page) == []
    shot(page, "confirm-start-page")

    # And with no JavaScript at all, the same steps start the run.
    context = page.context.browser.new_context(java_script_enabled=False)
    try:
        plain = context.new_page()
        plain.goto(stack.url("/login"))
        plain.get_by_label("Email").fill(ADMIN_EMAIL)
        plain.get_by_label("Password").fill(PASSWORD)
        plain.get_by_role("button", name="Sign in").click()
        plain.get_by_label("Month").fill(MONTH)
        plain.get_by_role("button", name="Start run").click()
        expect(plain.get_by_role("heading", level=1)).to_have_text(
            "Send 5 reports for December 2024?"
        )
        assert _count(smtp_server) == 0
        plain.get_by_role("button", name="Send 5 reports").click()
        plain.wait_for_url("**/runs/1")
        eventually(lambda: len(smtp_server.messages) == 5, timeout=10)
        assert _count(smtp_server) == 5
    finally:
        context.close()


def test_cancel_asks_first_and_says_what_stays_sent(page: Page, make_stack, smtp_server, ledger):
    stack = make_stack(extra_learners=30)
    # 35 learners over the worker's 8 connections, 2 s each: about 9 s for the whole run.
    smtp_server.plan = FaultPlan(sleep_in_data={"*": 2.0})
    sign_in(page, stack)
    start_run(page)
    wait_for_state(page, "running")
    eventually(lambda: len(smtp_server.messages) >= 1, timeout=15)
    page.get_by_role("button", name="Cancel run").click()

    panel = page.locator("#confirm-panel")
    expect(panel.get_by_role("heading", name="Cancel run #1?")).to_be_focused()
    expect(panel).to_contain_text("reports not yet sent will not be sent")
    expect(panel).to_contain_text("Sending goes on while you decide")
    assert problems_at_both_widths(page) == []
    shot(page, "confirm-cancel")

    panel.get_by_role("button", name="Cancel run #1").click()
    wait_for_state(page, "cancelled")
    expect(page.locator("#run-progress .notice")).to_contain_text("Run cancelled")
    eventually(lambda: ledger.states()["sending"] == 0, timeout=15)
    assert _count(smtp_server) < 35


def test_go_back_from_cancel_leaves_the_run_going(page: Page, make_stack, smtp_server):
    stack = make_stack(extra_learners=10)
    smtp_server.plan = FaultPlan(sleep_in_data={"*": 0.5})
    sign_in(page, stack)
    start_run(page)
    page.get_by_role("button", name="Cancel run").click()
    page.locator("#confirm-panel").get_by_role("link", name="Go back").click()
    wait_for_state(page, "done")
    eventually(lambda: len(smtp_server.messages) == 15, timeout=20)


def test_retry_failed_asks_first_and_names_who_failed(page: Page, stack, smtp_server):
    smtp_server.plan = FaultPlan(rcpt={"lena.fischer@example.test": "550 5.7.1 Refused by policy"})
    sign_in(page, stack)
    start_run(page)
    wait_for_state(page, "done")
    page.get_by_role("button", name="Retry failed (1)").click()

    panel = page.locator("#confirm-panel")
    heading = panel.get_by_role("heading", name="Send again to Lena Fischer, whose report failed?")
    expect(heading).to_be_focused()
    expect(panel).to_contain_text(
        "Lena Fischer — mailbox unavailable (550 5.7.1 Refused by policy)"
    )
    assert problems_at_both_widths(page) == []
    shot(page, "confirm-retry-failed")

    smtp_server.plan = FaultPlan()
    panel.get_by_role("button", name="Send 1 report again").click()
    wait_for_state(page, "done")
    expect(page.locator("#run-progress .count", has_text="Failed")).to_contain_text("0")
    eventually(
        lambda: "lena.fischer@example.test" in [m.rcpt_tos[0] for m in smtp_server.messages],
        timeout=10,
    )
    assert _count(smtp_server) == 5


def test_dry_run_send_these_n_asks_first_and_its_list_downloads(page: Page, stack, smtp_server):
    sign_in(page, stack)
    page.get_by_label("Month").fill(MONTH)
    page.get_by_role("button", name="Dry run first").click()
    send = page.get_by_role("button", name="Send these 5 reports")
    expect(send).to_be_visible()
    assert problems_at_both_widths(page) == []
    shot(page, "dry-run-send-these")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download the list (CSV)").click()
    assert download.value.suggested_filename == f"dry-run-{MONTH}.csv"
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["learner_id", "name", "email", "outcome", "reason"]
    assert [r[3] for r in rows[1:]].count("would send") == 5
    assert ["Nadia Nomail", "", "skipped", "no email address on file"] in [r[1:] for r in rows]

    send.click()
    panel = page.locator("#confirm-panel")
    expect(panel.get_by_role("heading", name="Send 5 reports for December 2024?")).to_be_focused()
    expect(panel).not_to_contain_text("The dry run listed")
    assert problems_at_both_widths(page) == []
    shot(page, "dry-run-send-these-confirm")
    assert _count(smtp_server) == 0

    panel.get_by_role("button", name="Send 5 reports").click()
    page.wait_for_url("**/runs/1")
    wait_for_state(page, "done")
    eventually(lambda: len(smtp_server.messages) == 5, timeout=10)
