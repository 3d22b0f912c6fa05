"""Signing in through the real form: admins get in, learners and wrong passwords do not;
signing out everywhere ends the session."""

import pytest
from playwright.sync_api import Page
from playwright.sync_api import expect

from tests.helpers.browser import serious_axe_violations
from tests.helpers.browser import sign_in
from tests.helpers.factories import ADMIN_EMAIL
from tests.helpers.factories import LEARNER_PASSWORD
from tests.helpers.factories import PASSWORD

pytestmark = pytest.mark.browser


def test_sign_in_refuses_wrong_password_and_learner_then_admits_admin(page: Page, stack):
    sign_in(page, stack, password="not the password")
    expect(page.get_by_role("alert")).to_contain_text("do not match a staff account")
    expect(page).to_have_title("Sign in · Quiz Reports")

    # A learner's right password gets the same words: the form tells nobody which accounts
    # exist.
    sign_in(page, stack, email="sam@example.test", password=LEARNER_PASSWORD)
    expect(page.get_by_role("alert")).to_contain_text("do not match a staff account")

    page.goto(stack.url("/learners"))
    expect(page).to_have_url(stack.url("/login?next=/learners"))
    page.get_by_label("Email").fill(ADMIN_EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(stack.url("/learners"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Learners")

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(stack.url("/login"))
    page.goto(stack.url("/"))
    expect(page).to_have_url(stack.url("/login"))


def test_the_account_page_changes_the_password_and_signs_out_everywhere(page: Page, stack):
    other = page.context.browser.new_context()
    try:
        elsewhere = other.new_page()
        sign_in(elsewhere, stack)
        expect(elsewhere).to_have_url(stack.url("/"))

        sign_in(page, stack)
        page.get_by_role("link", name="Your account").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Your account")
        expect(page.locator(".lead")).to_contain_text("in 2 browsers now")
        assert serious_axe_violations(page) == []

        page.get_by_label("Current password").fill("not the password")
        page.get_by_label("New password", exact=True).fill("a new and long password")
        page.get_by_label("New password again").fill("a new and long password")
        page.get_by_role("button", name="Change password").click()
        expect(page.locator(".field-errors")).to_contain_text("That is not your current password.")
        assert serious_axe_violations(page) == []

        page.get_by_role("button", name="Sign out everywhere").click()
        expect(page).to_have_url(stack.url("/login"))
        expect(page.locator(".notice")).to_contain_text("signed out in every browser")
        elsewhere.goto(stack.url("/learners"))
        expect(elsewhere).to_have_url(stack.url("/login?next=/learners"))
    finally:
        other.close()
