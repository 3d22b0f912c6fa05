"""Report emails rendered once: HTML with inlined CSS, and plain text, from the same data.

Mail clients ignore a stylesheet, so every element carries its styles in a style attribute.
Inlining a rendered email cost more than rendering it, so it is done once, to the template:
the Jinja tags are set aside, the stylesheet is inlined into the HTML around them, and they
are put back (see preinlined_html). Where a class depends on the data (a score's band),
its style comes from a filter, worked out by the same inliner. Rendering the result gives
the document inlining each email would (tests/unit/test_rendering.py holds them equal).
"""

import functools
import re
from dataclasses import dataclass

import css_inline
from jinja2 import Environment
from jinja2 import FileSystemLoader
from jinja2 import StrictUndefined
from jinja2 import select_autoescape

from webapp.core.mail.mime import RenderedReport
from webapp.core.months import Month
from webapp.core.report import wording
from webapp.core.report.data import MonthFigures
from webapp.core.report.data import Report
from webapp.core.unsubscribe import UnsubscribeLinks
from webapp.core.unsubscribe import links_for
from webapp.core.words import plural
from webapp.infra.settings import ROOT
from webapp.infra.settings import Settings

# The workers have no Flask app to escape for them: autoescape must be on here.
env = Environment(
    loader=FileSystemLoader(ROOT / "templates"),
    autoescape=select_autoescape(["html", "xml"], default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)

# One configured inliner for the process. Reuse measured the same as css_inline.inline
# (0.249 ms each on a 25-attempt report, bench/bench_mime.py); it keeps the options in one
# place. Media queries are kept for phones; remote stylesheets are never fetched.
_inliner = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False, minify_css=True)

_MONTH_ABBR = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _per_value(filter_):
    # Percents repeat across attempts and learners (7/10 is 70 for everyone): an email calls
    # these filters four times an attempt, and a cache hit costs a tenth of the formatting.
    return functools.lru_cache(maxsize=4096)(filter_)


_pct = _per_value(wording.percent)
# A word next to the colour, so the band does not depend on seeing colours.
_band = _per_value(wording.band)


@_per_value
def _band_class(value: float) -> str:
    return {"strong": "strong", "fair": "fair"}.get(_band(value), "weak")


@_per_value
def _band_style(value: float) -> str:
    return _BAND_STYLES[f"band-{_band_class(value)}"]


def _short_date(iso: str) -> str:
    # "2024-12-31T23:59:59" -> "31 Dec, 23:59"; sliced, not parsed: it runs for every attempt.
    return f"{int(iso[8:10])} {_MONTH_ABBR[int(iso[5:7]) - 1]}, {iso[11:16]}"


def _paragraphs(text: str) -> list[str]:
    # An admin's intro: blank lines part paragraphs; the template escapes each one.
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip()]


env.filters.update(
    pct=_pct,
    band=_band,
    band_class=_band_class,
    band_style=_band_style,
    short_date=_short_date,
    paragraphs=_paragraphs,
)

HTML_TEMPLATE = "email/report.html"
_JINJA_TAG = re.compile(r"{%.*?%}|{{.*?}}|{#.*?#}", re.DOTALL)
_STYLESHEET = re.compile(r"<style>.*?</style>", re.DOTALL)
_CLASS_AND_STYLE = re.compile(r'<span class="([^"]+)" style="([^"]*)"')


def _styles_of(classes: list[str]) -> dict[str, str]:
    """The inlined style of a span of each class, by the template's own stylesheet."""
    source = env.loader.get_source(env, HTML_TEMPLATE)[0]
    spans = "".join(f'<span class="{name}">x</span>' for name in classes)
    doc = f"<html><head>{_STYLESHEET.search(source).group(0)}</head><body>{spans}</body></html>"
    return dict(_CLASS_AND_STYLE.findall(_inliner.inline(doc)))


def preinlined_html(source: str) -> str:
    """The template source with its stylesheet inlined into its elements, Jinja tags kept.

    Tags become placeholders the HTML parser leaves where they are: comments for statements,
    plain words for expressions (in text and in attribute values alike).
    """
    tags: list[str] = []

    def set_aside(match: re.Match) -> str:
        tag = match.group(0)
        opened, closed = source.rfind("<", 0, match.start()), source.rfind(">", 0, match.start())
        if tag.startswith("{%") and opened > closed:
            raise ValueError(f"{HTML_TEMPLATE}: {tag} inside an HTML tag cannot be pre-inlined")
        tags.append(tag)
        word = f"qrjinja{len(tags) - 1}x"
        return word if tag.startswith("{{") else f"<!--{word}-->"

    inlined = _inliner.inline(_JINJA_TAG.sub(set_aside, source))
    for index in reversed(range(len(tags))):
        word = f"qrjinja{index}x"
        inlined = inlined.replace(f"<!--{word}-->", tags[index]).replace(word, tags[index])
    return inlined


_BAND_STYLES = _styles_of(["band-strong", "band-fair", "band-weak"])
_HTML = env.from_string(preinlined_html(env.loader.get_source(env, HTML_TEMPLATE)[0]))


def _change(report: Report) -> dict:
    """The summary's comparison with the month before: an arrow (or none) and a sentence."""
    previous = report.previous
    if report.first_month:
        return {"arrow": "", "line": "This is your first month of quizzes: welcome!"}
    change = report.change
    if change is None:
        return {"arrow": "", "line": f"No quizzes in {previous.month.label} to compare with."}
    line = (
        f"Since {previous.month.label}: {wording.quizzes_change(change.attempts)}, and your "
        f"average is {wording.average_change(change.average_percent)} "
        f"({_pct(previous.totals.average_percent)} → {_pct(report.totals.average_percent)})."
    )
    return {"arrow": wording.ARROWS[wording.direction(change.average_percent)], "line": line}


def _preheader(report: Report) -> str:
    """The line an inbox shows after the subject: the month's headline numbers."""
    label = report.month_label
    if report.empty:
        return f"No quizzes in {label}: here is how to get going."
    totals = report.totals
    line = (
        f"{label}: {plural(totals.attempts, 'quiz', 'quizzes')}, "
        f"average {_pct(totals.average_percent)}"
    )
    if report.change is not None:
        way = wording.direction(report.change.average_percent)
        if way != wording.LEVEL:
            line += f", {wording.average_change(report.change.average_percent)}"
    return line + "."


# The trend picture: the tallest bar, in pixels, stands for 100 %; so does a plain-text bar
# of ten characters.
BAR_PX = 80
TEXT_BAR = 10
BAR, BAR_NOW = "#93c5fd", "#1e3a8a"  # other months; this month


def _column(point: MonthFigures, current: bool) -> dict:
    average = point.average_percent
    colour = BAR_NOW if current else BAR
    # Outlook's Word engine sizes a cell by its height and line-height and paints it by its
    # bgcolor: a bar is an empty cell, never a div or an image.
    px = max(2, round(average * BAR_PX / 100)) if average is not None else 0
    filled = round(wording.shown(average) * TEXT_BAR / 100) if average is not None else 0
    short = point.month.label[:3]
    quizzes = plural(point.attempts, "quiz", "quizzes") if point.attempts else "no quizzes"
    text_line = (
        f"{short} {point.month.year}  {'█' * filled}{'░' * (TEXT_BAR - filled)}  "
        f"{_pct(average) if average is not None else '':>6}  {quizzes}"
        f"{'  <- this month' if current else ''}"
    )
    return {
        "short": short,
        "quizzes": quizzes,
        "average": average,
        "current": current,
        "bar_colour": colour,
        "bar_style": f"height: {px}px; line-height: {px}px; font-size: 1px; "
        f"background-color: {colour};",
        "text_line": text_line,
    }


def _trend(report: Report) -> list[dict]:
    """The trend picture's columns, or none when no month before this one had quizzes."""
    history = report.history
    if not any(point.attempts for point in history[:-1]):
        return []
    return [_column(point, point.month == report.month) for point in history]


@dataclass(frozen=True)
class Letter:
    """What is said around the reports of one run: the run's own subject and intro, when an
    admin set them, where the platform's quiz pages are (PLATFORM_URL), when it is set, and
    the learners' unsubscribe links (none in a Letter made without settings, as in tests)."""

    subject: str = ""
    intro: str = ""
    platform_url: str = ""
    unsubscribe: UnsubscribeLinks | None = None

    def unsubscribe_url(self, user_id: int) -> str:
        """The learner's unsubscribe page, or "" when this Letter has no links."""
        return self.unsubscribe.url(user_id) if self.unsubscribe is not None else ""

    def quiz_url(self, quiz_id: int) -> str:
        """The platform's page of a quiz, or "" when the platform's address is not set."""
        if not self.platform_url:
            return ""
        if "{quiz_id}" in self.platform_url:
            return self.platform_url.replace("{quiz_id}", str(quiz_id))
        return f"{self.platform_url.rstrip('/')}/quiz/{quiz_id}"


PLAIN = Letter()


def letter_for(settings: Settings, subject: str | None = "", intro: str | None = "") -> Letter:
    """The Letter of a run: its own subject and intro (if any), the platform's address, and
    unsubscribe links to this dashboard, signed with the key the web app checks them with."""
    return Letter(
        subject=subject or "",
        intro=intro or "",
        platform_url=settings.PLATFORM_URL,
        unsubscribe=links_for(settings),
    )


def default_subject(month: Month) -> str:
    """The subject of a run that has none of its own, e.g. "Your quiz report — December 2024"."""
    return f"Your quiz report — {month.label}"


def report_subject(report: Report, letter: Letter = PLAIN) -> str:
    """The email subject of a report: the run's own, or the default for its month."""
    return letter.subject or default_subject(report.month)


def report_context(report: Report, letter: Letter = PLAIN) -> dict:
    """What the email templates are rendered with."""
    learner = report.learner
    return {
        "unsubscribe_url": letter.unsubscribe_url(learner.id),
        "report": report,
        "user": learner,
        "name": learner.display_name,
        "totals": report.totals,
        "subject": report_subject(report, letter),
        "letter": letter,
        "change": None if report.empty else _change(report),
        "preheader": _preheader(report),
        "trend": _trend(report),
    }


def render_report(report: Report, letter: Letter = PLAIN) -> RenderedReport:
    """Render a report's email once: same data, same bytes (no clock in the body)."""
    context = report_context(report, letter)
    text = env.get_template("email/report.txt").render(context)
    return RenderedReport(
        subject=context["subject"],
        html=_HTML.render(context),
        text=text,
        unsubscribe_url=context["unsubscribe_url"],
    )
