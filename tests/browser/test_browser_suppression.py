"""The learner's unsubscribe pages and the admin's Suppression page in Chromium: they work
without JavaScript's help where they must, and pass axe-core at 1440 and 390 px."""

import pytest
from playwright.sync_api import Page
from playwright.sync_api import expect
from sqlalchemy import select

from tests.helpers.browser import problems_at_both_widths
from tests.helpers.browser import shot
from tests.helpers.browser import sign_in
from webapp.core.models import Suppression
from webapp.core.models import User
from webapp.core.unsubscribe import UnsubscribeLinks

pytestmark = pytest.mark.browser

# The stack's processes sign with this key (tests/helpers/stack.py).
LINKS = UnsubscribeLinks("http://unused", "test-secret")


def check(page: Page, name: str, problems: list[str]) -> None:
    """The page's serious axe violations and sideways overflow at both widths, into problems."""
    problems += problems_at_both_widths(page, name)
    shot(page, name)


def test_unsubscribing_and_the_suppression_page(page: Page, stack, ledger):
    with ledger.session() as s:
        lena = s.scalar(select(User.id).where(User.full_name == "Lena Fischer"))
    problems: list[str] = []

    link = stack.url(f"/unsubscribe/{LINKS.token(lena)}")
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Stop the monthly quiz reports?")
    check(page, "suppression-01-unsubscribe", problems)
    page.get_by_role("button", name="Unsubscribe").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("You are unsubscribed")
    check(page, "suppression-02-unsubscribed", problems)
    page.goto(link[:-3] + "abc")
    expect(page.get_by_role("heading", level=1)).to_have_text("Unsubscribe link not valid")
    check(page, "suppression-03-link-not-valid", problems)

    sign_in(page, stack)
    page.get_by_role("link", name="Suppression").click()
    rows = page.locator("#suppression tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Lena Fischer")
    expect(rows.first).to_contain_text("Unsubscribed")
    check(page, "suppression-04-list", problems)

    page.get_by_label("Learner's email").fill("nobody@example.test")
    page.get_by_role("button", name="Add to the list").click()
    expect(page.locator("#suppression .field-errors")).to_contain_text("No learner has")
    check(page, "suppression-05-add-error", problems)
    page.get_by_label("Learner's email").fill("priya.raman@example.test")
    page.get_by_label("Note").fill("asked by phone")
    page.get_by_role("button", name="Add to the list").click()
    expect(rows).to_have_count(2)
    expect(page.locator("#suppression .notice-success")).to_contain_text("Priya Raman")
    check(page, "suppression-06-added", problems)

    page.get_by_role("button", name="Lift the entry of Lena Fischer").click()
    expect(rows).to_have_count(1)
    expect(page.locator("#suppression .notice-success")).to_contain_text("Lifted")
    with ledger.session() as s:
        assert s.scalars(select(Suppression.reason)).all() == ["admin"]
    assert problems == []
