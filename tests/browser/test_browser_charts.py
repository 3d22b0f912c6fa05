"""The charts of the overview, a finished run's page and a learner's page, in a real browser:
the picture for the width (wide at 1440 px, narrow at 390 px) with readable text, the numbers
under "Show the numbers", and axe at both widths.

Set QR_SHOTS=<dir> to save the screenshots chart-overview-1440, chart-overview-390, chart-run
and chart-learner.
"""

import os
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page
from playwright.sync_api import expect
from sqlalchemy import select

from tests.helpers.browser import serious_axe_violations
from tests.helpers.browser import shot
from tests.helpers.browser import sign_in
from tests.helpers.browser import start_run
from tests.helpers.browser import wait_for_state
from tests.helpers.charts import ledger_run
from tests.helpers.charts import states
from tests.helpers.factories import make_quiz
from tests.helpers.factories import make_score
from webapp.core.clock import utcnow
from webapp.core.models import User
from webapp.core.months import Month
from webapp.core.states import Role

pytestmark = pytest.mark.browser

WIDTHS = {1440: 900, 390: 844}


def seed_history(ledger) -> int:
    """Quizzes for every learner in the last three full months, and the ledger of two earlier
    runs; Priya's id."""
    last = Month.last_full()
    with ledger.session() as s:
        learners = s.scalars(select(User).where(User.role == Role.LEARNER)).all()
        quiz = make_quiz(s, name="Percentages")
        month = last
        for back in range(3):
            for i, learner in enumerate(learners):
                make_score(s, learner, quiz, month.start + timedelta(days=2 + i), 5 + back, 10)
            month = month.previous()
        s.commit()
        started = utcnow() - timedelta(days=40)
        ledger_run(s, last.previous(), states(sent=4, failed=1, skipped=1), start=started)
        ledger_run(s, month, states(sent=3, unknown=1), start=started)
        return s.scalar(select(User.id).where(User.full_name == "Priya Raman"))


def check_charts(page: Page, where: str, problems: list[str]) -> None:
    """At both widths: axe, no sideways scroll, one drawing of each chart shown, its text
    between 9 and 20 px high as drawn."""
    for width, height in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(150)
        problems += [f"{where} @{width}px: {v}" for v in serious_axe_violations(page)]
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        if overflow > 0:
            problems.append(f"{where} @{width}px: {overflow}px wider than the window")
        shown, hidden = ("wide", "narrow") if width > 760 else ("narrow", "wide")
        for figure in page.locator("figure.chart").all():
            expect(figure.locator(f"svg.chart-{shown}")).to_be_visible()
            expect(figure.locator(f"svg.chart-{hidden}")).to_be_hidden()
            drawn = figure.locator(f"svg.chart-{shown}").evaluate(
                "svg => svg.getBoundingClientRect().width / svg.viewBox.baseVal.width"
                " * Number(svg.getAttribute('font-size'))"
            )
            if not 9 <= drawn <= 20:
                problems.append(f"{where} @{width}px: chart text drawn {drawn:.1f}px high")
    page.set_viewport_size({"width": 1440, "height": 900})


def row(where, label: str):
    """The table row whose header cell is exactly `label`."""
    return where.locator("tbody tr").filter(
        has=where.page.get_by_role("rowheader", name=label, exact=True)
    )


def picture(page: Page, name: str) -> None:
    """With QR_SHOTS=<dir>, this page at the width it has now, as <name>.png."""
    folder = os.environ.get("QR_SHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.wait_for_timeout(200)
        page.screenshot(path=f"{folder}/{name}.png", full_page=True)


def test_charts_of_the_overview_a_run_and_a_learner(page: Page, stack, ledger):
    priya = seed_history(ledger)
    last = Month.last_full()
    problems: list[str] = []
    sign_in(page, stack)
    start_run(page, str(last))
    wait_for_state(page, "done")
    run_id = int(page.url.rsplit("/", 1)[1])

    run_charts = page.locator("#run-charts")
    expect(run_charts.locator("figure#chart-sends")).to_contain_text("Reports sent every")
    outcomes = run_charts.locator("figure#chart-outcomes")
    outcomes.get_by_text("Show the numbers").click()
    # Drawn again once the run is over, without reloading the page.
    sent = ledger.states(run_id)["sent"]
    assert sent >= 5
    expect(row(outcomes, "Sent").locator("td")).to_have_text(str(sent))
    expect(row(outcomes, "Failed").locator("td")).to_have_text("0")
    expect(
        run_charts.locator("figure#chart-sends svg.chart-wide rect.chart-box")
    ).not_to_have_count(0)
    check_charts(page, "run", problems)
    shot(page, "chart-run")

    page.goto(stack.url("/"))
    months = page.locator("figure#chart-months")
    expect(months).to_be_visible()
    picture(page, "chart-overview-1440")
    page.set_viewport_size({"width": 390, "height": 844})
    picture(page, "chart-overview-390")
    page.set_viewport_size({"width": 1440, "height": 900})
    months.get_by_text("Show the numbers").click()
    this_run = row(months, f"{last.label[:3]} {last.year}")
    expect(this_run.locator("td")).to_have_text([str(sent), "0", "0", "0", str(sent)])
    before = last.previous()
    earlier = row(months, f"{before.label[:3]} {before.year}")
    expect(earlier.locator("td")).to_have_text(["4", "1", "1", "0", "6"])
    # A month with a report of unknown outcome brings that series in, with its legend.
    expect(months.locator(".chart-legend li")).to_have_text(
        ["Sent", "Failed", "Skipped", "Outcome unknown"]
    )
    expect(months.locator("svg.chart-wide rect.chart-box")).to_have_count(6)
    check_charts(page, "overview", problems)

    page.goto(stack.url(f"/learners/{priya}"))
    section = page.locator("#learner-chart")
    expect(section.locator("figure")).to_have_count(2)
    section.get_by_text("Show the numbers").click()
    expect(row(section, last.label).locator("td")).to_have_text(["1", "50%"])
    expect(section.locator("svg.chart-wide circle.chart-dot")).to_have_count(3)
    check_charts(page, "learner", problems)
    shot(page, "chart-learner")
    assert problems == []
