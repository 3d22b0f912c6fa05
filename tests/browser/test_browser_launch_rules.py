"""The rules of a start in a real browser: a month that is not over is refused, a month
everyone has says there is nothing to send, a dry run of a month without attempts warns,
and the overview shows each recent month's standing. axe at 1440 and 390 px on each."""

import pytest
from playwright.sync_api import Page
from playwright.sync_api import expect

from tests.helpers.browser import problems_at_both_widths
from tests.helpers.browser import shot
from tests.helpers.browser import sign_in
from tests.helpers.browser import start_run
from tests.helpers.browser import wait_for_state
from tests.helpers.factories import MONTH
from tests.helpers.smtp import FaultPlan
from tests.helpers.waiting import eventually
from webapp.core.months import Month

pytestmark = pytest.mark.browser


def assert_accessible(page: Page) -> None:
    """No serious axe violation and nothing wider than the window, at 1440 and at 390 px."""
    assert problems_at_both_widths(page) == []


def submit(page: Page, month: str, button: str) -> None:
    page.get_by_label("Month").fill(month)
    page.get_by_role("button", name=button).click()


def test_the_current_month_is_refused_and_its_dry_run_is_a_preview(
    page: Page, stack, smtp_server, ledger
):
    current = Month.current()
    sign_in(page, stack)
    submit(page, str(current), "Start run")
    error = page.locator("#start-run .field", has=page.get_by_label("Month"))
    expect(error).to_contain_text(f"{current.label} is not over yet")
    expect(error).to_contain_text(f"pick {Month.last_full().label} or an earlier month")
    expect(page.get_by_label("Month")).to_have_attribute("aria-invalid", "true")
    assert page.url.rstrip("/") == stack.url("").rstrip("/")  # no run page to go to
    assert_accessible(page)
    shot(page, "start-refused-current-month")

    submit(page, str(current), "Dry run first")
    expect(page.locator(".plan-warnings")).to_contain_text(
        f"{current.label} is not over yet: this dry run is only a preview."
    )
    assert ledger.count_runs() == 0 and smtp_server.messages == []


def test_repeating_a_finished_month_says_nothing_to_send(page: Page, stack, smtp_server, ledger):
    sign_in(page, stack)
    start_run(page)
    wait_for_state(page, "done")
    eventually(lambda: len(smtp_server.messages) == 5, timeout=10)

    page.goto(stack.url("/"))
    submit(page, MONTH, "Start run")
    notice = page.locator("#nothing-to-send")
    expect(notice).to_have_text(
        "Nothing to send for December 2024: 5 learners already have a report; "
        "1 skipped: no email address on file. No run was started."
    )
    assert ledger.count_runs() == 1
    assert len(smtp_server.messages) == 5
    assert_accessible(page)
    shot(page, "nothing-to-send")


def test_the_overview_shows_each_months_standing(page: Page, stack, smtp_server):
    last = Month.last_full()
    # A policy refusal: a failure that keeps her off the suppression list.
    smtp_server.plan = FaultPlan(rcpt={"lena.fischer@example.test": "550 5.7.1 Refused by policy"})
    sign_in(page, stack)
    standing = page.locator("#month-standing")
    expect(standing).to_contain_text(f"{last.label}: no report sent yet")
    start_run(page, str(last))
    wait_for_state(page, "done")
    page.goto(stack.url("/"))
    expect(standing.get_by_role("listitem").first).to_have_text(
        f"{last.label}: 4 of 5 delivered, 1 failed"
    )
    assert_accessible(page)
    shot(page, "overview-month-standing")


def test_a_dry_run_of_a_month_without_attempts_warns(page: Page, stack, smtp_server, ledger):
    sign_in(page, stack)
    submit(page, "2026-03", "Dry run first")
    expect(page.locator(".plan-warnings")).to_have_text(
        "No learner has an attempt in March 2026: every report would say there was no activity."
    )
    expect(page.locator(".dry-run-summary")).to_contain_text("5 would be mailed")
    assert ledger.count_runs() == 0 and smtp_server.messages == []
    assert_accessible(page)
    shot(page, "dry-run-no-attempts")
