"""A run's record never changes after the fact: a resend is a run of its own, the run before
it keeps its learner and figures, and the learner page lists every send of the month."""

import pytest
from playwright.sync_api import Page
from playwright.sync_api import expect

from tests.helpers.browser import problems_at_both_widths
from tests.helpers.browser import shot
from tests.helpers.browser import sign_in
from tests.helpers.browser import start_run
from tests.helpers.browser import wait_for_state
from tests.helpers.waiting import eventually

pytestmark = pytest.mark.browser


def test_a_resend_leaves_the_first_run_as_it_was(page: Page, stack, smtp_server):
    sign_in(page, stack)
    start_run(page)
    wait_for_state(page, "done")
    first_run = page.url
    deliveries = page.locator("#deliveries tbody tr")
    expect(deliveries).to_have_count(5)
    before = page.locator("#run-progress").inner_text()

    row = page.locator("tr", has_text="Priya Raman")
    row.get_by_role("button", name="Resend to Priya Raman").click()
    expect(page.locator("tr", has_text="Priya Raman")).to_contain_text("again in run #2")
    eventually(lambda: len(smtp_server.messages) == 6, timeout=15)

    page.goto(first_run)
    expect(deliveries).to_have_count(5)
    priya = page.locator("tr", has_text="Priya Raman")
    expect(priya).to_contain_text("Sent")
    expect(priya).to_contain_text("again in run #2")
    assert page.locator("#run-progress").inner_text() == before
    assert problems_at_both_widths(page) == []
    shot(page, "history-first-run-after-resend")

    priya.get_by_role("link", name="Priya Raman", exact=True).click()
    sends = page.locator("#learner-sends tbody tr")
    expect(sends).to_have_count(2)
    expect(sends.nth(0)).to_contain_text("Run #2")
    expect(sends.nth(1)).to_contain_text("Run #1")
    # The list is read when the page is: by now the 250 may still be on its way to the ledger.
    eventually(lambda: page.reload() or "Sent" in sends.nth(0).inner_text(), timeout=15)
    ids = [sends.nth(n).locator("code").inner_text() for n in range(2)]
    assert ids[0] != ids[1] and all(i.startswith("<") for i in ids)
    mailed = {m.email["Message-ID"] for m in smtp_server.messages}
    assert set(ids) <= mailed
    assert problems_at_both_widths(page) == []
    shot(page, "history-learner-sends")
