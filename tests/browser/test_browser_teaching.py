"""The Class month page as a teacher uses it, on demo data: the month's figures and pictures,
another month, a learner who improved, a download, and a month that is not one. axe at 1440
and 390 px on each state.

Set QR_SHOTS=<dir> to save teacher-view-1440.png, teacher-view-390.png and the bad month's."""

from pathlib import Path

import pytest
from playwright.sync_api import Page
from playwright.sync_api import expect

from tests.helpers.apps import open_app
from tests.helpers.browser import problems_at_both_widths
from tests.helpers.browser import shot
from tests.helpers.browser import sign_in
from tests.helpers.factories import make_admin
from tests.helpers.stack import process_env
from webapp.core import demo
from webapp.core.months import Month
from webapp.web.services import get_session

pytestmark = pytest.mark.browser


@pytest.fixture
def demo_stack(tmp_path, smtp_server, stacks):
    """The web app on demo data: 200 learners with three months of attempts, and the admin."""
    with open_app(tmp_path) as app, app.app_context():
        session = get_session()
        demo.seed(session, users=200, months=3, seed=5, attempts=8)
        make_admin(session)
        session.commit()
    stack = stacks(process_env(tmp_path, smtp_server.port))
    stack.start_web()
    return stack


def check(page: Page, name: str) -> list[str]:
    """Serious axe violations and sideways overflow at both widths; a picture of each."""
    problems = problems_at_both_widths(page, name)
    shot(page, name)
    return problems


def test_a_teacher_reads_a_month(page: Page, demo_stack):
    month, before = Month.last_full(), Month.last_full().previous()
    sign_in(page, demo_stack)
    page.get_by_role("link", name="Class month").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Class month: {month.label}")
    expect(page.get_by_role("link", name="Class month")).to_have_attribute("aria-current", "page")
    # Figures in words and in pictures, each picture with its numbers in a table.
    expect(page.locator(".teaching-counts")).to_contain_text("of 200")
    expect(page.locator("#subject-averages svg[data-variant='wide']")).to_be_visible()
    expect(page.locator("#score-distribution svg[data-variant='wide']")).to_be_visible()
    subjects = page.locator("section[aria-labelledby='subjects-heading'] tbody tr")
    expect(subjects).to_have_count(len(demo.CURRICULUM))
    bands = page.locator("section[aria-labelledby='distribution-heading'] tbody tr")
    expect(bands).to_have_count(10)
    hardest = page.locator("section[aria-labelledby='hardest-heading'] tbody tr")
    expect(hardest).to_have_count(10)
    improved = page.locator("section[aria-labelledby='improved-heading'] tbody tr")
    expect(improved).to_have_count(10)
    expect(page.locator("#absent")).to_contain_text(f"made no attempt in {month.label}")
    problems = check(page, "teacher-view")
    # On a phone the wide pictures give way to the narrow ones.
    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.locator("#score-distribution svg[data-variant='narrow']")).to_be_visible()
    expect(page.locator("#score-distribution svg[data-variant='wide']")).to_be_hidden()
    page.set_viewport_size({"width": 1440, "height": 900})

    # The quizzes as a download: UTF-8 with a header row, a row per quiz.
    with page.expect_download() as waiting:
        page.get_by_role("link", name=f"quizzes of {month.label}").click()
    download = waiting.value
    assert download.suggested_filename == f"quizzes-{month}.csv"
    text = Path(download.path()).read_text(encoding="utf-8-sig")
    assert text.startswith("Subject,Chapter,Quiz,Attempts,Learners,Average %")

    # The most improved learner's name leads to their page.
    top = improved.first.get_by_role("link")
    name = top.inner_text()
    top.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    page.go_back()

    # Another month, picked without JavaScript's help: the form's GET.
    page.get_by_label("Month", exact=True).fill(str(before))
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(demo_stack.url(f"/teaching?month={before}"))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Class month: {before.label}")
    page.get_by_role("link", name=f"{month.label} →").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Class month: {month.label}")

    # A month that is not one: a page in words, and nothing else.
    response = page.goto(demo_stack.url("/teaching?month=2024-13"))
    assert response.status == 400
    expect(page.locator("main")).to_contain_text("“2024-13” is not a month")
    problems += check(page, "teacher-view-bad-month")
    assert problems == []
