"""The charts of the overview, a run's page and a learner's page: the SVG and the table under it
carry the ledger's and the quiz tables' numbers."""

import re
from datetime import timedelta

from tests.helpers.apps import with_session
from tests.helpers.charts import ledger_run
from tests.helpers.charts import states
from tests.helpers.database import statements_run
from tests.helpers.factories import make_quiz
from tests.helpers.factories import make_score
from tests.helpers.web import htmx
from webapp.core.clock import utcnow
from webapp.core.models import User
from webapp.core.months import Month


def figure(html: str, chart_id: str) -> str:
    """The markup of one chart's <figure>."""
    found = re.search(rf'<figure class="chart" id="{chart_id}".*?</figure>', html, re.S)
    assert found, f"no chart {chart_id}"
    return found.group(0)


def table_rows(markup: str) -> dict[str, list[str]]:
    """The chart's table: each row's label and its cells."""
    rows = {}
    for label, cells in re.findall(r'<tr><th scope="row"[^>]*>(.*?)</th>(.*?)</tr>', markup, re.S):
        rows[label] = re.findall(r'<td class="num"[^>]*>(.*?)</td>', cells)
    return rows


def titles(markup: str, variant: str) -> list[str]:
    """The tooltips of the boxes and dots of one drawing (wide or narrow)."""
    svg = re.search(rf'<svg class="chart-svg chart-{variant}".*?</svg>', markup, re.S).group(0)
    return re.findall(r"<(?:rect|circle) [^>]*><title>(.*?)</title>", svg)


def test_overview_shows_each_months_reports_by_outcome(mail_app, admin):
    last = Month.last_full()
    earlier = last.previous().previous()
    start = utcnow() - timedelta(days=3)
    with_session(
        mail_app, lambda s: ledger_run(s, last, states(sent=5, failed=2, skipped=1), start=start)
    )
    with_session(mail_app, lambda s: ledger_run(s, earlier, states(sent=3), start=start))
    html = admin.get("/").get_data(as_text=True)
    chart = figure(html, "chart-months")
    rows = table_rows(chart)
    assert len(rows) == 12  # every month, those without reports as zero
    short = f"{last.label[:3]} {last.year}"
    assert rows[short] == ["5", "2", "1", "8"]
    assert rows[f"{earlier.label[:3]} {earlier.year}"] == ["3", "0", "0", "3"]
    assert sum(int(cells[-1]) for cells in rows.values()) == 11
    for variant in ("wide", "narrow"):  # both drawings carry the same parts
        assert titles(chart, variant) == [
            f"{earlier.label[:3]} {earlier.year}, Sent: 3",
            f"{short}, Sent: 5",
            f"{short}, Failed: 2",
            f"{short}, Skipped: 1",
        ]
    assert "Outcome unknown" not in chart  # shown only when a month has one
    assert 'role="img"' in chart and "<desc id=" in chart
    assert "style=" not in chart


def test_overview_of_an_empty_ledger_says_so(admin):
    chart = figure(admin.get("/").get_data(as_text=True), "chart-months")
    assert "No reports in these months yet" in chart and 'data-empty="true"' in chart


def test_the_runs_table_polled_by_htmx_comes_without_the_chart(admin):
    assert "chart-months" not in htmx(admin, "GET", "/").get_data(as_text=True)


def test_run_page_shows_sends_over_time_and_outcomes_by_class(mail_app, admin):
    start = utcnow() - timedelta(minutes=1)
    rows = [{"state": "sent", "sent_at": start + timedelta(seconds=s)} for s in (0, 1, 1, 30)]
    rows += [
        {"state": "failed", "smtp_code": 554, "last_error": "transaction failed (554 5.7.1)"},
        {"state": "skipped", "reason": "unsubscribed on 3 Nov 2026"},
        {"state": "unknown", "last_error": "the connection was lost"},
    ]
    run = with_session(
        mail_app,
        lambda s: ledger_run(
            s, Month.last_full(), rows, start=start, end=start + timedelta(seconds=40)
        ),
    )
    html = admin.get(f"/runs/{run.id}").get_data(as_text=True)
    sends = figure(html, "chart-sends")
    assert "Reports sent every 1 s" in sends  # 40 seconds: one column a second
    counted = table_rows(sends)
    assert counted["0 s"] == ["1"] and counted["1 s"] == ["2"] and counted["30 s"] == ["1"]
    assert sum(int(c[0]) for c in counted.values()) == 4
    outcomes = table_rows(figure(html, "chart-outcomes"))
    assert outcomes == {
        "Sent": ["4"],
        "Failed: refused by the mail server (SMTP 5xx)": ["1"],
        "Skipped: unsubscribed": ["1"],
        "Outcome unknown (may have arrived)": ["1"],
    }
    assert titles(figure(html, "chart-outcomes"), "narrow")[:2] == [
        "Sent: 4",
        "Failed: refused by the mail server (SMTP 5xx): 1",
    ]


def test_a_run_without_failures_shows_zero_failed_and_skipped(mail_app, admin):
    start = utcnow() - timedelta(seconds=5)
    rows = [{"state": "sent", "sent_at": start + timedelta(seconds=1)}]
    run = with_session(mail_app, lambda s: ledger_run(s, Month.last_full(), rows, start=start))
    outcomes = table_rows(
        figure(admin.get(f"/runs/{run.id}").get_data(as_text=True), "chart-outcomes")
    )
    assert outcomes == {"Sent": ["1"], "Failed": ["0"], "Skipped": ["0"]}


def test_learner_page_shows_the_average_and_quizzes_by_month(mail_app, admin, world):
    learner_id = world["learner_ids"][0]
    this, before = Month.current(), Month.current().previous().previous()

    def attempts(s):
        learner, quiz = s.get(User, learner_id), make_quiz(s, name="Fractions")
        make_score(s, learner, quiz, this.start + timedelta(hours=1), 3, 4)
        make_score(s, learner, quiz, before.start + timedelta(days=2), 6, 10)
        make_score(s, learner, quiz, before.start + timedelta(days=3), 9, 10)
        s.commit()

    with_session(mail_app, attempts)
    html = admin.get(f"/learners/{learner_id}").get_data(as_text=True)
    section = re.search(r'<section id="learner-chart".*?</section>', html, re.S).group(0)
    rows = table_rows(section)
    assert len(rows) == 12
    assert rows[this.label] == ["1", "75%"]
    assert rows[before.label] == ["2", "75%"]  # 15 of 20 questions
    assert rows[this.previous().label] == ["0", "—"]
    average = figure(section, "chart-learner-average")
    assert titles(average, "wide") == [
        f"{before.label[:3]} {before.year}: 75%",
        f"{this.label[:3]} {this.year}: 75%",
    ]
    quizzes = figure(section, "chart-learner-quizzes")
    assert titles(quizzes, "narrow") == [
        f"{before.label[:3]} {before.year}, Quizzes taken: 2",
        f"{this.label[:3]} {this.year}, Quizzes taken: 1",
    ]
    assert section.count("<details") == 1  # one table for both charts


def test_the_charts_cost_a_fixed_handful_of_statements(mail_app, admin):
    start = utcnow() - timedelta(minutes=5)
    rows = [{"state": "sent", "sent_at": start + timedelta(seconds=i)} for i in range(60)]
    rows += [{"state": "failed", "smtp_code": 550, "last_error": "no"} for _ in range(20)]
    run = with_session(mail_app, lambda s: ledger_run(s, Month.last_full(), rows, start=start))
    engine = mail_app.extensions["runtime"].engine
    admin.get(f"/runs/{run.id}")
    with statements_run(engine) as statements:
        admin.get(f"/runs/{run.id}")
    chart_statements = [s for s in statements if "julianday" in s or "CASE" in s]
    assert len(chart_statements) <= 3
    with statements_run(engine) as statements:
        admin.get("/")
    assert len([s for s in statements if "GROUP BY delivery.run_id, delivery.state" in s]) == 1


def test_the_run_charts_are_drawn_again_for_htmx_and_redirect_a_browser(mail_app, admin):
    start = utcnow() - timedelta(seconds=10)
    rows = [{"state": "sent", "sent_at": start + timedelta(seconds=2)}, {"state": "pending"}]
    run = with_session(
        mail_app, lambda s: ledger_run(s, Month.last_full(), rows, start=start, state="running")
    )
    page = admin.get(f"/runs/{run.id}").get_data(as_text=True)
    # The section asks for itself again whenever the progress component says counts moved.
    assert 'hx-trigger="deliveries-changed from:body"' in figure_section(page)
    fragment = htmx(admin, "GET", f"/runs/{run.id}/charts")
    html = fragment.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="run-charts"') and "<html" not in html
    assert table_rows(figure(html, "chart-outcomes")) == {
        "Sent": ["1"],
        "Not sent yet": ["1"],
        "Failed": ["0"],
        "Skipped": ["0"],
    }
    plain = admin.get(f"/runs/{run.id}/charts")
    assert plain.status_code == 302 and plain.headers["Location"] == f"/runs/{run.id}"
    assert admin.get("/runs/999/charts").status_code == 404


def figure_section(html: str) -> str:
    return re.search(r'<section id="run-charts".*?>', html, re.S).group(0)
