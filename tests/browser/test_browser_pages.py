"""Every page passes axe-core with no serious or critical violation, at 1440 and 390 px.

Set QR_SHOTS=/tmp/shots to also save a full-page screenshot of each page at both widths.
"""

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page
from playwright.sync_api import expect

from tests.helpers.browser import serious_axe_violations
from tests.helpers.browser import sign_in
from tests.helpers.browser import start_run
from tests.helpers.browser import wait_for_state
from tests.helpers.factories import MONTH
from webapp.infra.capture import save_message

pytestmark = pytest.mark.browser

WIDTHS = {"wide": (1440, 900), "phone": (390, 844)}


def _check(page: Page, name: str, problems: list[str]) -> None:
    """Add the page's serious axe violations and sideways overflow, at both widths, to problems."""
    shots = os.environ.get("QR_SHOTS")
    for label, (width, height) in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        problems += [f"{name} @{width}px: {v}" for v in serious_axe_violations(page)]
        # Nothing may be wider than the screen: no sideways scrolling at 390 px.
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        if overflow > 0:
            problems.append(f"{name} @{width}px: page is {overflow}px wider than the window")
        if shots:
            page.wait_for_timeout(250)  # let a resized sandboxed frame repaint
            Path(shots).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=f"{shots}/{name}-{label}.png", full_page=True)
    page.set_viewport_size({"width": 1440, "height": 900})


def test_every_page_is_accessible(page: Page, stack, smtp_server, tmp_path):
    problems: list[str] = []
    page.goto(stack.url("/login"))
    _check(page, "01-sign-in", problems)
    sign_in(page, stack, password="wrong")
    _check(page, "02-sign-in-error", problems)

    sign_in(page, stack)
    _check(page, "03-overview-empty", problems)
    page.get_by_label("Month").fill(MONTH)
    # The run's own wording shows on the dry run and, once started, on the run page.
    page.get_by_label("Subject").fill("Your December, with a subject long enough to wrap")
    page.get_by_label("Intro").fill("Thank you for a great year.\n\nSee you in January!")
    page.get_by_role("button", name="Dry run first").click()
    expect(page.locator(".dry-run")).to_be_visible()
    expect(page.locator(".dry-run .letter")).to_contain_text("See you in January!")
    _check(page, "04-overview-dry-run", problems)

    start_run(page)
    wait_for_state(page, "done")
    _check(page, "05-run-done", problems)
    page.get_by_role("link", name="Failed 0", exact=True).click()
    expect(page).to_have_url(stack.url("/runs/1?state=failed"))
    _check(page, "06-run-filtered-empty", problems)
    page.go_back()  # the filter pushed its URL; Back shows the whole list again
    expect(page).to_have_url(stack.url("/runs/1"))
    expect(page.get_by_role("link", name="All 5", exact=True)).to_have_attribute(
        "aria-current", "true"
    )
    expect(page.locator("#deliveries tbody tr")).to_have_count(5)

    page.goto(stack.url("/"))
    _check(page, "07-overview-with-run", problems)

    page.goto(stack.url("/learners"))
    _check(page, "08-learners", problems)
    page.get_by_label("Name or email").fill("priya")
    expect(page.locator("#learner-results tbody tr")).to_have_count(1)
    page.get_by_role("link", name="Priya Raman").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Priya Raman")
    _check(page, "09-learner", problems)

    page.get_by_role("link", name="Preview December 2024").click()
    expect(page.locator("iframe.email-frame")).to_be_visible()
    _check(page, "10-preview-html", problems)
    page.get_by_role("link", name="Plain text").click()
    _check(page, "11-preview-text", problems)

    # The stack mails the test SMTP server; put what it received into the capture outbox.
    for message in smtp_server.messages[:3]:
        save_message(tmp_path / "outbox", message.mail_from, message.rcpt_tos, message.data)
    page.goto(stack.url("/outbox"))
    _check(page, "12-outbox", problems)
    page.locator("#outbox-messages tbody a").first.click()
    expect(page.locator("iframe.email-frame")).to_be_visible()
    _check(page, "13-outbox-message", problems)

    page.goto(stack.url("/tokens"))
    _check(page, "14-tokens", problems)
    page.get_by_label("Token name").fill("nightly cron")
    page.get_by_role("button", name="Create token").click()
    expect(page.locator(".token-once")).to_be_visible()
    _check(page, "15-token-created", problems)

    page.get_by_role("link", name="Users").click()
    _check(page, "16-users", problems)
    page.get_by_label("Email").fill("olga@example.com")
    page.get_by_label("Role", exact=True).select_option("operator")
    page.get_by_role("button", name="Add account").click()
    expect(page.locator("#new-password")).to_be_visible()
    expect(page.locator("#staff-users tbody tr")).to_have_count(2)
    _check(page, "17-user-added", problems)

    page.get_by_role("link", name="Audit").click()
    expect(page.locator("#audit-log tbody tr").first).to_contain_text("User added")
    _check(page, "18-audit", problems)
    page.get_by_label("Action").select_option("run_started")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(stack.url("/audit?action=run_started&actor=&target=&since=&until="))
    expect(page.locator("#audit-log tbody tr")).to_have_count(1)
    page.get_by_label("From").fill("2024-12-02")
    page.get_by_label("To").fill("2024-12-01")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#audit-log .field-errors")).to_contain_text("The end date is before")
    _check(page, "19-audit-bad-filter", problems)

    page.get_by_role("link", name="Workers").click()
    expect(page.locator("#workers h2")).to_have_text("1 worker alive")
    expect(page.locator("#workers tbody tr")).to_contain_text("✓ Alive")
    _check(page, "20-workers", problems)

    page.goto(stack.url("/runs/999"))
    _check(page, "21-not-found", problems)
    assert problems == []
