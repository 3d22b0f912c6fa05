"""The report email as mail clients get it: the email linter (tests/helpers/email_lint.py)
finds nothing in the product's reports and catches each of its rules, and a month of 60
quizzes stays under Gmail's clipping limit."""

import dataclasses
from email import policy
from email.parser import BytesParser

import pytest

from tests.helpers.email_lint import lint_email
from tests.helpers.emails import RICH_LETTER
from tests.helpers.emails import mailed
from tests.helpers.emails import minimal_email
from tests.helpers.emails import rich_email
from tests.helpers.reports import make_busy_report
from tests.helpers.reports import make_report
from webapp.core.mail.mime import parse_message
from webapp.core.mail.render import render_report

# --- The product's reports pass every rule ------------------------------------------------------


def _first_month():
    return render_report(dataclasses.replace(make_report(), first_month=True, change=None))


@pytest.mark.parametrize(
    "email",
    [rich_email, minimal_email, lambda: render_report(make_report()), _first_month],
    ids=["rich", "minimal", "three-quizzes", "first-month"],
)
def test_the_report_email_breaks_no_mail_client_rule(email):
    rendered = email()
    assert [str(p) for p in lint_email(rendered.html)] == []
    # What the mail client gets is that HTML, through the MIME encoding.
    assert parse_message(mailed(rendered))["html"] == rendered.html


# --- The linter catches each rule ---------------------------------------------------------------


def document(body: str = "", head: str = "", *, lang: str = "en", title: str = "Report") -> str:
    """A small email that passes every rule, with this body and extra head."""
    html = f' lang="{lang}"' if lang else ""
    title_tag = f"<title>{title}</title>" if title is not None else ""
    return (
        f'<!doctype html><html{html}><head><meta charset="utf-8">{title_tag}{head}</head>'
        f"<body>{body}</body></html>"
    )


def styled(css: str) -> str:
    """A document with one layout cell carrying this inline style."""
    return document(f'<table role="presentation"><tr><td style="{css}">Hi</td></tr></table>')


def rules(html: str) -> set[str]:
    return {problem.rule for problem in lint_email(html)}


def test_a_clean_document_passes():
    assert lint_email(styled("padding: 8px 12px; width: 600px; color: #1f2937")) == []


BROKEN = [
    # Elements
    ("style-in-body", document("<style>p { color: red }</style>"), {"style-in-body"}),
    (
        "link-element",
        document(head='<link rel="stylesheet" href="https://x.test/a.css">'),
        {"link-element"},
    ),
    ("script", document("<script>alert(1)</script>"), {"forbidden-element"}),
    ("svg", document('<svg width="10" height="10"><circle r="4"/></svg>'), {"forbidden-element"}),
    ("canvas", document("<canvas></canvas>"), {"forbidden-element"}),
    ("iframe", document('<iframe src="https://x.test"></iframe>'), {"forbidden-element"}),
    ("form", document('<form action="https://x.test"></form>'), {"forbidden-element"}),
    ("video", document('<video src="https://x.test/a.mp4"></video>'), {"forbidden-element"}),
    ("object", document('<object data="https://x.test/a.swf"></object>'), {"forbidden-element"}),
    # CSS in style attributes
    ("flex", styled("display: flex"), {"css-flex-or-grid"}),
    ("inline-flex", styled("display:inline-flex"), {"css-flex-or-grid"}),
    ("grid", styled("DISPLAY: Grid"), {"css-flex-or-grid"}),
    ("position", styled("position: absolute; top: 0"), {"css-position"}),
    ("float", styled("float: left"), {"css-float"}),
    ("var", styled("color: var(--ink)"), {"css-variable"}),
    ("custom-property", styled("--ink: #111"), {"css-variable"}),
    ("calc", styled("padding: calc(8px + 1%)"), {"css-calc"}),
    ("important", styled("color: red !important"), {"inline-important"}),
    (
        "background-image",
        styled("background-image: linear-gradient(red, blue)"),
        {"css-background-image"},
    ),
    ("url", styled("background: #fff url(https://x.test/a.png)"), {"css-background-image"}),
    (
        "background-attribute",
        document('<p background="https://x.test/a.png">x</p>'),
        {"css-background-image"},
    ),
    (
        "import-in-head",
        document(head='<style>@import "https://x.test/a.css";</style>'),
        {"css-import"},
    ),
    ("import-inline", styled("@import 'a.css'"), {"css-import"}),
    # CSS in the head's stylesheet
    ("flex-in-head", document(head="<style>.row { display: flex }</style>"), {"css-flex-or-grid"}),
    (
        "var-in-media",
        document(head="<style>@media (x) { p { color: var(--a) } }</style>"),
        {"css-variable"},
    ),
    # Images: the report mails none
    ("img", document('<img src="data:image/png;base64,AAAA" alt="A chart">'), {"image"}),
    ("img-without-alt", document('<img src="cid:chart">'), {"image", "img-without-alt"}),
    (
        "remote-image",
        document('<img src="https://x.test/a.png" alt="x">'),
        {"image", "remote-image"},
    ),
    # Links
    ("link-without-href", document("<a>your quizzes</a>"), {"link-without-href"}),
    ("empty-href", document('<a href=" ">your quizzes</a>'), {"link-without-href"}),
    ("javascript-link", document('<a href="JavaScript:go()">x</a>'), {"javascript-link"}),
    ("relative-link", document('<a href="/quizzes/3">x</a>'), {"relative-link"}),
    # The document
    ("html-without-lang", document(lang=""), {"html-without-lang"}),
    ("missing-title", document(title=None), {"missing-title"}),
    ("empty-title", document(title=" "), {"missing-title"}),
    ("missing-charset", document().replace('<meta charset="utf-8">', ""), {"missing-charset"}),
    # Tables
    (
        "layout-table-without-role",
        document("<table><tr><td>x</td></tr></table>"),
        {"layout-table-without-role"},
    ),
    (
        "data-table-as-presentation",
        document('<table role="presentation"><tr><th>Quiz</th></tr><tr><td>x</td></tr></table>'),
        {"data-table-as-presentation"},
    ),
    # Width
    ("width-attribute", document('<table role="presentation" width="700"></table>'), {"too-wide"}),
    ("width-style", styled("width: 641px"), {"too-wide"}),
    ("min-width-style", styled("min-width:800px"), {"too-wide"}),
    ("width-in-head", document(head="<style>.container { width: 700px }</style>"), {"too-wide"}),
]


@pytest.mark.parametrize(("name", "html", "expected"), BROKEN, ids=[c[0] for c in BROKEN])
def test_the_linter_catches_each_rule(name, html, expected):
    assert rules(html) == expected


ALLOWED = [
    # The head's media queries may overrule the inline styles on phones.
    document(head="<style>@media (max-width: 660px) { .c { width: 100% !important } }</style>"),
    # A data table is announced as one, headers and all.
    document("<table><tr><th>Quiz</th></tr><tr><td>Lenses</td></tr></table>"),
    # Relative widths, and caps wider than the email, do not widen it.
    styled("width: 100%; max-width: 800px"),
    document('<table role="presentation" width="100%"><tr><td width="640">x</td></tr></table>'),
    # Whole addresses, mail and phone links.
    document('<a href="https://quiz.example/quizzes/3">Lenses</a> <a href="mailto:a@x.test">a</a>'),
    # A charset given the old way.
    document(head='<meta http-equiv="Content-Type" content="text/html; charset=utf-8">').replace(
        '<meta charset="utf-8">', ""
    ),
    # Properties that only look like the forbidden ones.
    styled("background-color: #eff6ff; background-position: 0 0; white-space: nowrap"),
]


@pytest.mark.parametrize("html", ALLOWED)
def test_the_linter_lets_mail_safe_markup_pass(html):
    assert [str(p) for p in lint_email(html)] == []


def test_a_problem_names_its_rule_and_where_it_is():
    html = document('\n<table role="presentation">\n<tr><td class="card" style="float: right">')
    assert [str(p) for p in lint_email(html)] == [
        'css-float at line 3 <td class="card">: float: right'
    ]


# --- Size: Gmail clips an email whose HTML is over 102 KB ---------------------------------------

# "102 KB", taken as thousands of bytes to be on the safe side of the two readings.
GMAIL_CLIP_BYTES = 102_000


def _mailed_sizes(attempts: int) -> tuple[dict[str, int], str]:
    """The sizes of a month of this many quizzes as mailed: the HTML part decoded (as Gmail
    reads it), the HTML part as sent (its headers and base64 lines) and the whole message."""
    raw = mailed(render_report(make_busy_report(attempts), RICH_LETTER))
    message = BytesParser(policy=policy.default).parsebytes(raw)
    html = next(p for p in message.walk() if p.get_content_type() == "text/html")
    boundary = message.get_boundary().encode("ascii")
    sent = next(part for part in raw.split(b"--" + boundary) if b"text/html" in part)
    sizes = {
        "html": len(html.get_payload(decode=True)),
        "html_sent": len(sent),
        "message": len(raw),
    }
    shown = (
        f"{attempts} quizzes: HTML part {sizes['html']:,} bytes decoded, "
        f"{sizes['html_sent']:,} bytes as sent (base64); whole message {sizes['message']:,} "
        f"bytes encoded; Gmail clips at {GMAIL_CLIP_BYTES:,}"
    )
    return sizes, shown


def test_a_month_of_60_quizzes_is_rich_enough_to_measure():
    report = make_busy_report(attempts=60)
    assert len(report.attempts) == 60
    assert len(report.subjects) == 6 and len(report.chapters) == 11
    assert len({a.quiz_id for a in report.attempts}) < 60  # some quizzes were taken again
    assert max(len(a.quiz) for a in report.attempts) > 45
    assert report.insights and report.recommendations and report.change


def test_the_html_of_60_quizzes_is_under_gmails_clipping_limit():
    sizes, shown = _mailed_sizes(60)
    assert sizes["html"] < GMAIL_CLIP_BYTES, shown
    # Some measure the part as it travels: base64 makes it a third larger.
    assert sizes["html_sent"] < GMAIL_CLIP_BYTES, shown


def test_the_whole_message_of_60_quizzes_is_under_gmails_clipping_limit():
    # The strict reading of the limit: the encoded message, plain text part and headers too.
    sizes, shown = _mailed_sizes(60)
    assert sizes["message"] < GMAIL_CLIP_BYTES, shown
