"""A run's own subject and intro: checked in one place, stored on the run, used by the
preview of a report not sent yet."""

import pytest
from sqlalchemy import func
from sqlalchemy import select

from tests.helpers.factories import make_user
from webapp.core import launch
from webapp.core import letters
from webapp.core.models import Delivery
from webapp.core.models import ReportRun
from webapp.core.months import Month
from webapp.core.preview import load_email
from webapp.infra.settings import Settings

MAIL_FROM = "Quiz Reports <reports@quiz.example>"
DECEMBER = Month(2024, 12)


def test_empty_or_missing_means_the_defaults():
    assert letters.clean() == letters.RunWording(None, None)
    assert letters.clean("", "") == letters.RunWording(None, None)
    assert letters.clean("   ", " \r\n\r\n ") == letters.RunWording(None, None)


def test_the_subject_loses_its_surrounding_spaces_and_keeps_the_rest():
    wording = letters.clean("  Your results — März, 2024 ✓  ", None)
    assert wording.subject == "Your results — März, 2024 ✓"


def test_the_intro_keeps_its_line_breaks_as_one_character_each():
    # A browser's textarea posts CRLF; old Mac text has CR alone.
    wording = letters.clean(None, "\r\n  Hello!\r\n\r\nSee you\rsoon.  \n")
    assert wording.intro == "Hello!\n\nSee you\nsoon."


def test_the_limits_are_counted_in_characters():
    assert letters.clean("é" * 150, "ü" * 2000) == letters.RunWording("é" * 150, "ü" * 2000)
    # CRLF counts as one: 1,000 lines of one letter is 1,999 characters.
    assert len(letters.clean(None, "\r\n".join("a" * 1000)).intro) == 1999
    with pytest.raises(letters.LetterError) as caught:
        letters.clean("x" * 151, None)
    assert caught.value.problems == {
        "subject": "The subject is 151 characters long; at most 150 are allowed."
    }
    with pytest.raises(letters.LetterError) as caught:
        letters.clean(None, "x" * 2001)
    assert caught.value.message == "The intro is 2,001 characters long; at most 2,000 are allowed."


@pytest.mark.parametrize(
    ("subject", "words"),
    [
        ("Hello\nBcc: everyone@example.test", "a line break (U+000A) at character 6"),
        ("Hello\r", "a line break (U+000D) at character 6"),
        ("Tab\there", "a tab (U+0009) at character 4"),
        ("Bell\x07", "a control character (U+0007) at character 5"),
        ("Nul\x00", "a control character (U+0000) at character 4"),
        ("Line\u2028separator", "a line separator (U+2028) at character 5"),
        ("Lone \ud800 pair", "an unpaired surrogate (U+D800) at character 6"),
    ],
)
def test_a_subject_is_one_line_without_control_characters(subject, words):
    with pytest.raises(letters.LetterError) as caught:
        letters.clean(subject, None)
    assert caught.value.problems == {
        "subject": f"The subject must be one line of plain text: it has {words}."
    }


@pytest.mark.parametrize(
    ("intro", "words"),
    [
        ("Hello\tthere", "a tab (U+0009) at character 6"),
        ("Hi\r\nthere\x1b[31m", "a control character (U+001B) at character 9"),
        ("Form\x0cfeed", "a control character (U+000C) at character 5"),
        ("Lone \udfff pair", "an unpaired surrogate (U+DFFF) at character 6"),
    ],
)
def test_an_intro_may_break_lines_but_holds_no_other_control_character(intro, words):
    with pytest.raises(letters.LetterError) as caught:
        letters.clean(None, intro)
    assert caught.value.problems == {
        "intro": f"The intro must be plain text: line breaks are fine, but it has {words}."
    }


def test_values_that_are_not_text_are_refused_in_words_and_both_problems_are_told():
    with pytest.raises(letters.LetterError) as caught:
        letters.clean(42, ["a", "list"])
    assert set(caught.value.problems) == {"subject", "intro"}
    assert caught.value.message.startswith("The subject must be text")
    assert "The intro must be text" in caught.value.message


def test_the_subject_a_run_uses():
    assert letters.subject_for(DECEMBER, None) == "Your quiz report — December 2024"
    assert letters.subject_for(DECEMBER, "Happy holidays") == "Happy holidays"


def test_starts_store_the_checked_wording_on_the_run(session):
    learner = make_user(session)
    session.commit()
    run = launch.start_all(
        session, DECEMBER, mail_from=MAIL_FROM, subject="  Your year  ", intro="Hi\r\n\r\nAll"
    )
    assert (run.subject, run.intro) == ("Your year", "Hi\n\nAll")
    one = launch.start_one(
        session, Month(2024, 11), learner.id, mail_from=MAIL_FROM, subject="Just you"
    )
    assert (one.subject, one.intro) == ("Just you", None)
    plain = launch.start_all(session, Month(2024, 10), mail_from=MAIL_FROM)
    assert (plain.subject, plain.intro) == (None, None)


def test_a_start_with_a_bad_subject_or_intro_writes_nothing(session):
    learner = make_user(session)
    session.commit()
    with pytest.raises(letters.LetterError):
        launch.start_all(session, DECEMBER, mail_from=MAIL_FROM, subject="a\nb")
    with pytest.raises(letters.LetterError):
        launch.start_one(session, DECEMBER, learner.id, mail_from=MAIL_FROM, intro="\x00")
    session.rollback()
    assert session.scalar(select(func.count()).select_from(ReportRun)) == 0
    assert session.scalar(select(func.count()).select_from(Delivery)) == 0


def test_the_preview_of_a_pending_report_uses_its_runs_subject(session):
    learner = make_user(session)
    other = make_user(session)
    session.commit()
    settings = Settings().updated({"MAIL_FROM": MAIL_FROM, "SECRET_KEY": "test-secret"})
    launch.start_one(
        session, DECEMBER, learner.id, mail_from=MAIL_FROM, subject="Your December, <b>bold</b>"
    )
    email = load_email(session, settings, learner, DECEMBER)
    assert not email.sent and email.delivery.state == "pending"
    assert email.headers["Subject"] == "Your December, <b>bold</b>"
    # Not in any run yet: the default subject.
    assert load_email(session, settings, other, DECEMBER).headers["Subject"] == (
        "Your quiz report — December 2024"
    )
