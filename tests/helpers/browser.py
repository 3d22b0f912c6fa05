"""Playwright helpers of the browser tests: signing in, starting a run, waiting for its state,
and screenshots for looking at (never for asserting)."""

import os
import re
from pathlib import Path

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page
from playwright.sync_api import expect

from tests.helpers.factories import ADMIN_EMAIL
from tests.helpers.factories import MONTH
from tests.helpers.factories import PASSWORD
from tests.helpers.stack import Stack


def sign_in(page: Page, stack: Stack, email: str = ADMIN_EMAIL, password: str = PASSWORD):
    """Sign in through the real form."""
    page.goto(stack.url("/login"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


# The button of a start's question: "Send 5 reports" (webapp/web/confirm.py).
SEND_REPORTS = re.compile(r"^Send [\d,]+ reports?$")


def start_run(page: Page, month: str = MONTH) -> None:
    """Start an all-learner run from the overview, answer its question, land on its page."""
    page.get_by_label("Month").fill(month)
    page.get_by_role("button", name="Start run").click()
    page.locator("#confirm-panel").get_by_role("button", name=SEND_REPORTS).click()
    page.wait_for_url("**/runs/*")


def wait_for_state(page: Page, state: str = "done", timeout: float = 20_000) -> None:
    """Wait until the progress component shows this run state."""
    expect(page.locator("#run-progress")).to_have_attribute("data-state", state, timeout=timeout)


_axe = Axe()


def serious_axe_violations(page: Page) -> list[str]:
    """axe-core's serious and critical violations on the page as it is: "id [targets]"."""
    problems = []
    for violation in _axe.run(page).response["violations"]:
        if violation["impact"] in ("serious", "critical"):
            targets = [node["target"] for node in violation["nodes"]][:3]
            problems.append(f"{violation['impact']} {violation['id']} {targets}")
    return problems


# A desktop's and a phone's window: each new state of a page is checked at both.
WIDTHS = ((1440, 900), (390, 844))


def problems_at_both_widths(page: Page, where: str = "") -> list[str]:
    """Serious axe violations and sideways overflow at both WIDTHS, each named by `where`
    and the width; the page is left at 1440 px."""
    problems = []
    for width, height in WIDTHS:
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(150)  # let the page reflow at the new width
        label = f"{where} @{width}px".strip()
        problems += [f"{label}: {v}" for v in serious_axe_violations(page)]
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        if overflow > 0:
            problems.append(f"{label}: the page is {overflow}px wider than the window")
    page.set_viewport_size({"width": 1440, "height": 900})
    return problems


def playwright_pause(page: Page):
    """A pause for waiting.eventually/stays_true that keeps the page's events flowing (a
    plain sleep would hold back Playwright's event callbacks in the sync API)."""
    return lambda seconds: page.wait_for_timeout(seconds * 1000)


def shot(page: Page, name: str) -> None:
    """With QR_SHOTS=<dir>, save this page at 1440 and 390 px (for looking, not asserting)."""
    folder = os.environ.get("QR_SHOTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    for label, width, height in (("wide", 1440, 900), ("phone", 390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(250)  # let the page reflow at the new width before the picture
        page.screenshot(path=f"{folder}/{name}-{label}.png", full_page=True)
    page.set_viewport_size({"width": 1440, "height": 900})
