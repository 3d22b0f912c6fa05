"""What an admin may say in a run's emails: its subject and intro, checked in one place for
the dashboard and the API alike, before anything is written."""

import re
import unicodedata
from dataclasses import dataclass

from webapp.core.mail.render import default_subject
from webapp.core.months import Month

SUBJECT_MAX = 150
INTRO_MAX = 2000

# Unicode categories a subject cannot hold: control characters (a line break among them),
# the line and paragraph separators, and lone surrogates (no UTF-8 for them, so neither
# the database nor a mail header can take them).
_NOT_IN_A_SUBJECT = {"Cc", "Zl", "Zp", "Cs"}
_NOT_IN_AN_INTRO = {"Cc", "Cs"}
_CHARACTER_NAMES = {
    "\n": "a line break",
    "\r": "a line break",
    "\t": "a tab",
    "\u2028": "a line separator",
    "\u2029": "a paragraph separator",
}
# A textarea posts its line breaks as CRLF; stored and counted as one character each.
_LINE_BREAK = re.compile(r"\r\n?")


class LetterError(ValueError):
    """A subject or intro that cannot be used; problems names each field's reason in words."""

    def __init__(self, problems: dict[str, str]):
        self.problems = problems
        self.message = " ".join(problems.values())
        super().__init__(self.message)


@dataclass(frozen=True)
class RunWording:
    """A run's own subject and intro, checked; None where the default applies."""

    subject: str | None = None
    intro: str | None = None


def _describe(char: str) -> str:
    if char in _CHARACTER_NAMES:
        name = _CHARACTER_NAMES[char]
    elif unicodedata.category(char) == "Cs":
        name = "an unpaired surrogate"
    else:
        name = "a control character"
    return f"{name} (U+{ord(char):04X})"


def _first_unwanted(text: str, categories: set[str], allowed: str = "") -> tuple[int, str] | None:
    for position, char in enumerate(text, start=1):
        if char not in allowed and unicodedata.category(char) in categories:
            return position, char
    return None


def _subject_problem(value: object) -> tuple[str | None, str | None]:
    if value is None:
        return None, None
    if not isinstance(value, str):
        return None, 'The subject must be text, e.g. "Your quiz results for March".'
    found = _first_unwanted(value, _NOT_IN_A_SUBJECT)
    if found:
        position, char = found
        return None, (
            f"The subject must be one line of plain text: it has {_describe(char)} "
            f"at character {position}."
        )
    subject = value.strip()
    if len(subject) > SUBJECT_MAX:
        return None, (
            f"The subject is {len(subject):,} characters long; at most {SUBJECT_MAX} are allowed."
        )
    return subject or None, None


def _intro_problem(value: object) -> tuple[str | None, str | None]:
    if value is None:
        return None, None
    if not isinstance(value, str):
        return None, "The intro must be text: a few sentences, with blank lines between paragraphs."
    intro = _LINE_BREAK.sub("\n", value)
    found = _first_unwanted(intro, _NOT_IN_AN_INTRO, allowed="\n")
    if found:
        position, char = found
        return None, (
            "The intro must be plain text: line breaks are fine, but it has "
            f"{_describe(char)} at character {position}."
        )
    intro = intro.strip()
    if len(intro) > INTRO_MAX:
        return None, (
            f"The intro is {len(intro):,} characters long; at most {INTRO_MAX:,} are allowed."
        )
    return intro or None, None


def clean(subject: object = None, intro: object = None) -> RunWording:
    """Check a run's subject and intro as an admin typed them; LetterError says what is wrong.

    The subject is one line, its surrounding spaces dropped; the intro is plain text whose
    line breaks are kept as "\\n". Empty (or None) means the default: no subject of its own,
    no intro.
    """
    problems = {}
    subject, problems["subject"] = _subject_problem(subject)
    intro, problems["intro"] = _intro_problem(intro)
    problems = {field: reason for field, reason in problems.items() if reason}
    if problems:
        raise LetterError(problems)
    return RunWording(subject, intro)


def subject_for(month: Month, subject: str | None) -> str:
    """The subject a run's emails carry: its own, or the default for the month."""
    return subject or default_subject(month)
