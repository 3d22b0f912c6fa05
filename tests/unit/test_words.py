"""Counted nouns in the product's sentences: never "1 reports" or "198 report(s)"."""

import pytest

from webapp.core.words import plural


@pytest.mark.parametrize(
    ("count", "words", "expected"),
    [
        (0, ("report",), "0 reports"),
        (1, ("report",), "1 report"),
        (2, ("failed report",), "2 failed reports"),
        (1234, ("learner",), "1,234 learners"),
        (1, ("quiz", "quizzes"), "1 quiz"),
        (3, ("entry", "entries"), "3 entries"),
    ],
)
def test_a_count_names_its_noun_in_the_right_number(count, words, expected):
    assert plural(count, *words) == expected
