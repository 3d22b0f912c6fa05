"""The report emails the mail-client tests look at: a rich one, a minimal one, and a strong
and a weak learner's."""

from collections.abc import Callable
from datetime import datetime

from tests.helpers.reports import make_busy_report
from tests.helpers.reports import make_empty_report
from tests.helpers.reports import make_strong_report
from tests.helpers.reports import make_weak_report
from webapp.core.mail.mime import RenderedReport
from webapp.core.mail.mime import build_message
from webapp.core.mail.render import Letter
from webapp.core.mail.render import render_report
from webapp.core.unsubscribe import UnsubscribeLinks

# All an admin can add to a run's reports: its own subject and intro, and the platform's
# address, for links to the quiz pages.
RICH_LETTER = Letter(
    subject="Your December on the quiz platform: 60 quizzes and counting",
    intro=(
        "December was our busiest month yet. Thank you for practising with us; your results "
        "are below, with a few ideas for January."
    ),
    platform_url="https://quiz.example/quizzes/{quiz_id}",
    # Every mailed report has its learner's unsubscribe link in the footer.
    unsubscribe=UnsubscribeLinks("https://reports.quiz.example", "test-secret"),
)


def rich_email() -> RenderedReport:
    """A busy month (60 quizzes, long names, every section) with the run's own intro and
    links to the platform."""
    return render_report(make_busy_report(attempts=60), RICH_LETTER)


def minimal_email() -> RenderedReport:
    """A month without quizzes, as plain as the product mails."""
    return render_report(make_empty_report())


# The platform's address alone: the usual subject and no intro.
LINKED = Letter(platform_url="https://quiz.example/quizzes/{quiz_id}")


def strong_email() -> RenderedReport:
    """A strong learner's month: praise, a rising trend, one piece of advice."""
    return render_report(make_strong_report(), LINKED)


def weak_email() -> RenderedReport:
    """A weak learner's month: every subject under 60 %, advice as a three-week plan."""
    return render_report(make_weak_report(), LINKED)


EMAILS: dict[str, Callable[[], RenderedReport]] = {
    "rich": rich_email,
    "minimal": minimal_email,
    "strong": strong_email,
    "weak": weak_email,
}


def mailed(rendered: RenderedReport) -> bytes:
    """The whole MIME message of a rendered report, as build_message makes it for SMTP."""
    return build_message(
        rendered,
        from_addr="Quiz Reports <reports@quiz.example>",
        to_addr="maximiliane.wolfeschlegel@example.test",
        to_name="Maximiliane Alexandra Wolfeschlegelsteinhausen-Bergdorff",
        message_id="<report-2024-12-42@quiz.example>",
        date=datetime(2025, 1, 1, 8, 0, 0),
    )
