"""How the report reads: one precision, one threshold, words for changes, advice that helps."""

import dataclasses
import re

import pytest

from tests.helpers.reports import make_biology_report
from tests.helpers.reports import make_empty_report
from tests.helpers.reports import make_report
from tests.helpers.reports import make_strong_report
from tests.helpers.reports import make_weak_report
from tests.helpers.reports import with_insights
from webapp.core.mail.render import Letter
from webapp.core.mail.render import render_report
from webapp.core.report import wording
from webapp.core.report.data import Change
from webapp.core.report.insights import MAX_RECOMMENDATIONS

REPORTS = {
    "typical": make_report(),
    "weak": make_weak_report(),
    "empty": make_empty_report(),
    "first month": with_insights(dataclasses.replace(make_report(), first_month=True, change=None)),
    "no change": with_insights(make_biology_report(change=Change(attempts=0, average_percent=0.4))),
}


def visible_text(html: str) -> str:
    """The words of an HTML part, tags and the hidden head left out."""
    body = html.split("<body", 1)[1]
    return re.sub(r"<[^>]+>", " ", body)


@pytest.mark.parametrize("name", REPORTS)
def test_every_percent_has_one_decimal_and_negatives_a_minus_sign(name):
    rendered = render_report(REPORTS[name])
    for part in (rendered.text, visible_text(rendered.html)):
        percents = re.findall(r"\d+(?:\.\d+)?%", part)
        assert all(re.fullmatch(r"\d+\.\d%", p) for p in percents), percents
        assert not re.search(r"\d+\.\d\d", part)  # nothing with two decimals
        assert not re.search(r"(?<![\w#/-])-\d", part)  # a hyphen is never a minus
        assert "+0" not in part


def test_no_plus_zero_quizzes_but_words():
    assert wording.quizzes_change(0) == "the same number of quizzes"
    assert wording.quizzes_change(1) == "1 more quiz"
    assert wording.quizzes_change(-3) == "3 fewer quizzes"
    text = render_report(REPORTS["no change"]).text
    assert "the same number of quizzes" in text


@pytest.mark.parametrize(
    ("points", "way", "words"),
    [
        (0.0, wording.LEVEL, "about the same"),
        (1.94, wording.LEVEL, "about the same"),
        (-1.94, wording.LEVEL, "about the same"),
        (1.96, wording.UP, "up 2.0 points"),  # shown as 2.0, so not "about the same"
        (-2.0, wording.DOWN, "down 2.0 points"),
        (-3.59, wording.DOWN, "down 3.6 points"),
        (4.9, wording.UP, "up 4.9 points"),
    ],
)
def test_one_threshold_for_words_and_arrows(points, way, words):
    assert wording.direction(points) == way
    assert wording.average_change(points) == words
    report = with_insights(make_biology_report(change=Change(attempts=1, average_percent=points)))
    rendered = render_report(report)
    arrow = wording.ARROWS[way]
    assert f"{arrow} Since November 2024: 1 more quiz, and your average is {words}" in (
        rendered.text
    )
    assert f">{arrow}</span> Since November 2024" in rendered.html
    assert "held steady" not in rendered.text


def test_signed_numbers_use_the_minus_sign():
    assert wording.signed(-3.59) == "\u22123.6"
    assert wording.signed(2.38) == "+2.4"
    assert wording.signed(0.04) == "0.0"


def test_thresholds_go_by_the_shown_value():
    # 59.96 is shown as 60.0%: it is not called "under 60.0%", and its band is fair.
    assert wording.percent(59.96) == "60.0%" and wording.band(59.96) == "fair"
    assert wording.band(79.95) == "strong"


@pytest.mark.parametrize("name", REPORTS)
def test_at_most_three_recommendations(name):
    assert 1 <= len(REPORTS[name].recommendations) <= MAX_RECOMMENDATIONS


def test_a_weak_learner_gets_a_plan_of_the_three_chapters_that_gain_most():
    report = REPORTS["weak"]
    texts = [r.text for r in report.recommendations]
    assert len(texts) == 3
    # Each names its chapter and score and a quiz to retry, in the order of the gain.
    assert texts[0].startswith("Week 1: Revise ") and texts[2].startswith("Week 3: Revise ")
    for r in report.recommendations:
        assert re.search(r"where you averaged \d+\.\d%, then retry $", r.lead)
        assert r.quiz and r.quiz_id and re.fullmatch(r" \(you scored \d+/\d+\)\.", r.tail)
    # No praise where nothing was strong: the weak learner's best is not "strongest".
    insights = " ".join(report.insights)
    assert "strongest" not in insights and "well done" not in insights
    assert "excellent" not in insights
    assert "is a plan" in insights


def test_praise_is_kept_for_what_is_strong():
    insights = " ".join(REPORTS["typical"].insights)
    # Mathematics 85 % is strong and praised; Physics 30 % is where to grow.
    assert "Your strongest subject was Mathematics at 85.0%: well done." in insights
    assert "Physics, at 30.0%, has the most room to grow." in insights


def test_first_month_is_said_once():
    rendered = render_report(REPORTS["first month"])
    assert rendered.text.lower().count("first month") == 1
    assert visible_text(rendered.html).lower().count("first month") == 1


def test_a_returning_learners_empty_month_has_next_steps_and_no_word_on_ranks():
    rendered = render_report(REPORTS["empty"])
    assert "NEXT STEPS" in rendered.text and "GETTING STARTED" not in rendered.text
    assert "Ranks compare" not in rendered.text and "Ranks compare" not in rendered.html
    first = dataclasses.replace(make_empty_report(), first_month=True)
    assert "GETTING STARTED" in render_report(with_insights(first)).text


def test_the_trend_picture_in_both_parts_and_its_absence_without_history():
    rendered = render_report(REPORTS["typical"])
    # Six months: a line each in the text, this month marked; a column each in the HTML.
    lines = [line for line in rendered.text.splitlines() if re.match(r"\w{3} \d{4}  ", line)]
    assert len(lines) == 6 and lines[-1].endswith("<- this month")
    assert "Dec 2024  ███████░░░   66.7%  3 quizzes" in lines[-1]
    assert "no quizzes" in lines[0]
    assert rendered.html.count('class="trend-month') == 6
    assert "height: 53px" in rendered.html  # 66.67 % of the 80 px bar
    assert "<svg" not in rendered.html and "<img" not in rendered.html
    alone = dataclasses.replace(REPORTS["typical"], history=REPORTS["typical"].history[-1:])
    assert "LAST SIX MONTHS" not in render_report(alone).text


def test_preheader_has_the_months_headline():
    html = render_report(REPORTS["typical"]).html
    body = html.split("<body", 1)[1].split(">", 1)[1]
    first_text = re.sub(r"<[^>]+>", "", body.split("</div>", 1)[0]).strip()
    assert first_text == "December 2024: 3 quizzes, average 66.7%, up 16.7 points."


def test_quiz_names_link_to_the_platform_only_when_it_is_set():
    report = REPORTS["weak"]
    plain = render_report(report).html
    assert "<a " not in plain
    letter = Letter(platform_url="https://quiz.example.org/")
    linked = render_report(report, letter).html
    retry = report.recommendations[0]
    assert f'href="https://quiz.example.org/quiz/{retry.quiz_id}"' in linked
    assert f">{retry.quiz}</a> (you scored" in linked
    pattern = Letter(platform_url="https://quiz.example.org/play?quiz={quiz_id}&from=report")
    assert f"/play?quiz={retry.quiz_id}&amp;from=report" in render_report(report, pattern).html
    # The plain-text part names the quiz without a link.
    assert "https://" not in render_report(report, letter).text


def test_a_runs_subject_and_intro_are_escaped_paragraphs():
    letter = Letter(subject="Your <b>October</b>", intro="Hello <i>all</i>.\n\nSecond  part.")
    rendered = render_report(REPORTS["typical"], letter)
    assert rendered.subject == "Your <b>October</b>"
    assert "Hello &lt;i&gt;all&lt;/i&gt;." in rendered.html and "<i>all" not in rendered.html
    assert rendered.html.count("Second part.") == 1
    assert "Hello <i>all</i>.\n\nSecond part." in rendered.text


def test_a_strong_learner_is_praised_and_told_what_is_left_to_gain():
    report = make_strong_report()
    insights = " ".join(report.insights)
    assert "Every subject was strong this month, led by Mathematics at 95.0%." in insights
    assert "You had the top score of 12 learners on Quadratics: excellent." in insights
    assert [r.text for r in report.recommendations] == [
        "Keep the momentum: retry Lenses, your lowest score this month (8/10), or try a "
        "chapter you have not taken yet."
    ]
