"""The report email in Chromium, as a desktop reading pane (600 px) and a phone (360 px) show
it, in light and dark colour schemes: no serious or critical axe-core violation, nothing wider
than the window, nothing fetched from outside the message.

Each case saves a full-page screenshot, for looking (never for asserting), to
test-results/email/report-<rich|minimal>-<width>-<scheme>.png (pytest-playwright's --output
folder, which it empties at the start of a session).
"""

from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.helpers.browser import serious_axe_violations
from tests.helpers.emails import EMAILS

pytestmark = pytest.mark.browser

WIDTHS = {600: 900, 360: 740}  # width: height of the window
SCHEMES = ("light", "dark")


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("width", list(WIDTHS))
@pytest.mark.parametrize("kind", list(EMAILS))
def test_the_report_email_reads_well(page: Page, pytestconfig, kind, width, scheme):
    # Everything an email shows travels inside it: a request for anything is a problem.
    fetched: list[str] = []
    page.route("**/*", lambda route: (fetched.append(route.request.url), route.abort()))
    page.set_viewport_size({"width": width, "height": WIDTHS[width]})
    page.emulate_media(color_scheme=scheme)
    page.set_content(EMAILS[kind]().html, wait_until="load")

    folder = Path(pytestconfig.getoption("--output")) / "email"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=folder / f"report-{kind}-{width}-{scheme}.png", full_page=True)

    problems = [f"fetched {url}" for url in fetched]
    problems += [f"axe {v}" for v in serious_axe_violations(page)]
    # No sideways scrolling: the email fits the window, at a phone's 360 px too.
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    if overflow > 1:
        problems.append(f"the email is {overflow}px wider than the {width}px window")
    assert problems == []
