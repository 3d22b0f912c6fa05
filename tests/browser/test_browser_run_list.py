"""Finding things on a run's page in a real browser: the search narrows the list as the admin
types, the chips count what they filter, and the list downloads as CSV as it is filtered."""

import csv
import re

import pytest
from playwright.sync_api import Page
from playwright.sync_api import expect

from tests.helpers.browser import problems_at_both_widths
from tests.helpers.browser import shot
from tests.helpers.browser import sign_in
from tests.helpers.browser import start_run
from tests.helpers.browser import wait_for_state
from tests.helpers.smtp import FaultPlan

pytestmark = pytest.mark.browser

EXTRA = 20  # learners besides the browser world's own: Learner 000 to Learner 019


def _accessible_at_both_widths(page: Page, name: str) -> None:
    problems = problems_at_both_widths(page, name)
    assert not problems, "\n".join(problems)


def _chip(page: Page, name: str):
    return page.locator("nav.filters").get_by_role("link", name=name, exact=True)


def test_search_narrows_the_list_live_and_the_chips_count(page: Page, make_stack, smtp_server):
    stack = make_stack(extra_learners=EXTRA)
    smtp_server.plan = FaultPlan(rcpt={"lena.fischer@example.test": "550 5.7.1 Refused by policy"})
    sign_in(page, stack)
    start_run(page)
    wait_for_state(page, "done")
    rows = page.locator("#deliveries tbody tr")
    everyone = rows.count()
    expect(_chip(page, f"All {everyone}")).to_have_attribute("aria-current", "true")
    expect(_chip(page, f"Sent {everyone - 1}")).to_be_visible()
    expect(_chip(page, "Failed 1")).to_be_visible()
    _accessible_at_both_widths(page, "run-chip-counts")
    shot(page, "run-chip-counts")

    # Typed, not submitted: the list narrows by itself and the address follows, no reload.
    page.evaluate("window.stillTheSamePage = true")
    page.get_by_label("Find a learner in this run").press_sequentially("learner 01", delay=40)
    expect(rows).to_have_count(10)
    expect(page).to_have_url(re.compile(r"/runs/1\?q=learner(\+|%20)01$"))
    assert page.evaluate("window.stillTheSamePage") is True
    expect(page.locator("#deliveries")).to_contain_text("10 reports matching “learner 01”")
    expect(_chip(page, "All 10")).to_have_attribute("aria-current", "true")
    expect(_chip(page, "Sent 10")).to_be_visible()
    expect(_chip(page, "Failed 0")).to_be_visible()
    _accessible_at_both_widths(page, "run-search")
    shot(page, "run-search")

    # A chip keeps the search; a new search keeps the chip.
    search = page.get_by_label("Find a learner in this run")
    search.fill("fischer")
    expect(rows).to_have_count(1)
    _chip(page, "Failed 1").click()
    expect(page).to_have_url(re.compile(r"/runs/1\?state=failed&q=fischer$"))
    expect(rows).to_contain_text("mailbox unavailable (550 5.7.1 Refused by policy)")
    search.fill("learner")
    expect(page.locator("#deliveries .empty")).to_contain_text(
        "No learner whose report is “Failed” matches “learner” in this run."
    )
    expect(page).to_have_url(re.compile(r"/runs/1\?q=learner&state=failed$"))
    assert page.evaluate("window.stillTheSamePage") is True
    _accessible_at_both_widths(page, "run-search-nothing")

    # "Clear the search" is a plain link: the page, and the search box, start afresh.
    search.fill("fischer")
    expect(rows).to_have_count(1)
    page.get_by_role("link", name="Clear the search").click()
    expect(page).to_have_url(stack.url("/runs/1?state=failed"))
    expect(search).to_have_value("")
    expect(rows).to_have_count(1)


def test_the_list_downloads_as_csv_as_filtered(page: Page, make_stack, smtp_server, tmp_path):
    stack = make_stack(extra_learners=EXTRA)
    smtp_server.plan = FaultPlan(rcpt={"lena.fischer@example.test": "550 5.7.1 Refused by policy"})
    sign_in(page, stack)
    start_run(page)
    wait_for_state(page, "done")
    everyone = page.locator("#deliveries tbody tr").count()

    with page.expect_download() as info:
        page.get_by_role("link", name=re.compile(r"^Download CSV")).click()
    download = info.value
    assert download.suggested_filename == "run-1-deliveries.csv"
    with open(download.path(), encoding="utf-8-sig", newline="") as f:
        every_row = list(csv.reader(f))
    assert every_row[0][6] == "Send attempts" and len(every_row) == everyone + 1
    assert {row[3] for row in every_row[1:]} == {"sent", "failed"}
    assert all(
        re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r[7])
        for r in every_row[1:]
        if r[3] == "sent"
    )

    page.get_by_label("Find a learner in this run").fill("lena")
    expect(page.locator("#deliveries tbody tr")).to_have_count(1)
    with page.expect_download() as info:
        page.get_by_role("link", name="Download CSV of 1 report found").click()
    path = tmp_path / "lena.csv"
    info.value.save_as(path)
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 2
    assert rows[1][1:7] == [
        "Lena Fischer",
        "lena.fischer@example.test",
        "failed",
        "mailbox unavailable (550 5.7.1 Refused by policy)",
        "550",
        "1",
    ]
