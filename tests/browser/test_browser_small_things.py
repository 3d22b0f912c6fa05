"""The small things, in Chromium against the real stack: a new token's Copy buttons and curl
line, no 404 for the icon or anything else, the pager's disabled links readable, and the
preview's frame as tall as the email, first on a phone.

Screenshots (with QR_SHOTS=<dir>): token-panel-{wide,phone}.png, preview-{wide,phone}.png.
"""

import json
import shlex
import subprocess

import pytest
from playwright.sync_api import Page
from playwright.sync_api import expect

from tests.helpers.browser import problems_at_both_widths
from tests.helpers.browser import shot
from tests.helpers.browser import sign_in

pytestmark = pytest.mark.browser


# The WCAG 2 contrast ratio of the element's text colour on the first opaque background
# behind it.
CONTRAST = """element => {
  const rgb = text => text.match(/[\\d.]+/g).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map(v => {
    v /= 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  }).reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  let behind = element, bg = null;
  while (behind) {
    const c = rgb(getComputedStyle(behind).backgroundColor);
    if (c.length < 4 || c[3] > 0) { bg = c; break; }
    behind = behind.parentElement;
  }
  const [a, b] = [lum(rgb(getComputedStyle(element).color)), lum(bg || [255, 255, 255])];
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""

# The frame's email fits it: nothing to scroll inside, either way.
FRAME_SCROLL = """frame => {
  const root = frame.contentDocument.documentElement;
  return {
    fitted: frame.classList.contains("is-fitted"),
    height: frame.getBoundingClientRect().height,
    inner: root.scrollHeight - root.clientHeight,
    sideways: root.scrollWidth - root.clientWidth,
  };
}"""


def _failed_requests(page: Page) -> list[str]:
    """Every answer of 400 or more the page's requests get, from now on (the icon included)."""
    failed: list[str] = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else 0)
    page.on(
        "console",
        lambda m: failed.append(f"console: {m.text}") if "404" in m.text else 0,
    )
    return failed


def test_a_new_token_is_copied_and_its_curl_line_works(page: Page, stack):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=stack.url(""))
    failed = _failed_requests(page)
    sign_in(page, stack)
    page.goto(stack.url("/tokens"))
    page.get_by_label("Token name").fill("nightly cron")
    page.get_by_role("button", name="Create token").click()
    panel = page.locator(".token-once")
    expect(panel).to_be_visible()
    token = page.locator("#new-token").input_value()
    curl = page.locator("#new-token-curl").input_value()
    assert token.startswith("qr_")
    assert curl == (
        f'curl -H "Authorization: Bearer {token}" {stack.url("/scheduled/report-summary")}'
    )

    page.get_by_role("button", name="Copy the token").click()
    expect(panel.locator("[data-copy-status]")).to_have_text("Copied the token to the clipboard.")
    assert page.evaluate("navigator.clipboard.readText()") == token
    page.get_by_role("button", name="Copy the curl command").click()
    expect(panel.locator("[data-copy-status]")).to_have_text(
        "Copied the curl command to the clipboard."
    )
    assert page.evaluate("navigator.clipboard.readText()") == curl
    # Focus selects the whole token, for copying by hand.
    page.locator("#new-token").focus()
    selected = "document.activeElement.selectionEnd - document.activeElement.selectionStart"
    assert page.evaluate(selected) == len(token)

    problems = problems_at_both_widths(page, "token-panel")
    shot(page, "token-panel")
    # The line as copied, run in a shell's words: the API answers it with the runs.
    ran = subprocess.run(
        [*shlex.split(curl), "--silent", "--show-error", "--fail"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["runs"] == []
    assert problems == []
    assert failed == []


def test_no_page_gets_a_404_and_the_icon_is_there(page: Page, stack):
    failed = _failed_requests(page)
    page.goto(stack.url("/login"))
    sign_in(page, stack)
    for path in ("/", "/learners", "/workers", "/tokens", "/audit"):
        page.goto(stack.url(path))
        expect(page.locator("h1")).to_be_visible()
    # What the browser asks for when a page links no icon (a JSON answer, an email's frame).
    icon = page.request.get(stack.url("/favicon.ico"))
    assert icon.status == 200 and icon.headers["content-type"] == "image/x-icon"
    assert "max-age=604800" in icon.headers["cache-control"]
    linked = page.locator('link[rel="icon"]').get_attribute("href")
    svg = page.request.get(stack.url(linked))
    assert svg.status == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert failed == []


def test_the_pagers_disabled_link_is_readable(page: Page, make_stack):
    stack = make_stack(extra_learners=30)  # 36 learners: two pages of 25
    sign_in(page, stack)
    page.goto(stack.url("/learners"))
    off = page.locator(".pager .pager-off")
    expect(off).to_have_text("← Previous")
    assert off.evaluate(CONTRAST) >= 4.5
    problems = problems_at_both_widths(page, "learners-pager")
    page.get_by_role("link", name="Next →").first.click()
    expect(page.locator(".pager .pager-off")).to_have_text("Next →")
    assert page.locator(".pager .pager-off").evaluate(CONTRAST) >= 4.5
    assert problems == []


def test_the_preview_frame_is_as_tall_as_the_email_and_first_on_a_phone(page: Page, stack):
    sign_in(page, stack)
    page.goto(stack.url("/learners"))
    page.get_by_label("Name or email").fill("priya")
    expect(page.locator("#learner-results tbody tr")).to_have_count(1)
    page.get_by_role("link", name="Priya Raman").click()
    page.get_by_role("link", name="Preview December 2024").click()
    frame = page.locator("iframe.email-frame")
    expect(frame).to_have_class("email-frame is-fitted")

    wide = frame.evaluate(FRAME_SCROLL)
    # Taller than the old fixed 673 px, and nothing left to scroll inside it.
    assert wide["height"] > 673 and wide["inner"] <= 0 and wide["sideways"] <= 0, wide
    headers = page.locator(".headers-card").bounding_box()
    email = page.locator(".email-card").bounding_box()
    assert headers["x"] < email["x"]  # side by side: the headers on the left

    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(300)  # the frame is fitted again at the new width
    phone = frame.evaluate(FRAME_SCROLL)
    assert phone["inner"] <= 0, phone
    headers = page.locator(".headers-card").bounding_box()
    email = page.locator(".email-card").bounding_box()
    assert email["y"] + email["height"] <= headers["y"]  # the email first, the headers after
    page.set_viewport_size({"width": 1440, "height": 900})

    problems = problems_at_both_widths(page, "preview")
    shot(page, "preview")
    assert problems == []
