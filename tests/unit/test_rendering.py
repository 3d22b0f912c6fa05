"""Report emails: rendering, escaping, and MIME bytes that are correct and deterministic."""

import dataclasses
import re
from datetime import datetime
from datetime import timedelta
from datetime import timezone
from email import policy
from email.parser import BytesParser

import pytest

from tests.helpers.factories import make_chapter
from tests.helpers.factories import make_quiz
from tests.helpers.factories import make_score
from tests.helpers.factories import make_subject
from tests.helpers.factories import make_user
from tests.helpers.html import document_events
from tests.helpers.reports import make_empty_report
from tests.helpers.reports import make_report
from webapp.core.mail import render as render_module
from webapp.core.mail.mime import InvalidAddressError
from webapp.core.mail.mime import RenderedReport
from webapp.core.mail.mime import build_message
from webapp.core.mail.mime import parse_message
from webapp.core.mail.render import render_report
from webapp.core.mail.smtp import is_canonical
from webapp.core.months import Month
from webapp.core.report.builder import build_report

HOSTILE = "<img src=x onerror=alert(1)>"
DATE = datetime(2025, 1, 1, 8, 0, 0)


def message(rendered: RenderedReport, **kw) -> bytes:
    """The MIME bytes of the rendered report to Alice (kw: build_message's arguments)."""
    args = {
        "from_addr": "Quiz Reports <reports@quiz.example>",
        "to_addr": "alice@example.test",
        "to_name": "Alice Able",
        "message_id": "<report-2024-12-7@quiz.example>",
        "date": DATE,
    }
    args.update(kw)
    return build_message(rendered, **args)


def header_block(raw: bytes) -> str:
    """The message's header lines."""
    return raw.split(b"\r\n\r\n", 1)[0].decode("ascii")


def test_subject_and_both_parts():
    rendered = render_report(make_report())
    assert rendered.subject == "Your quiz report — December 2024"
    assert "December 2024" in rendered.html and "December 2024" in rendered.text
    for part in (rendered.html, rendered.text):
        assert "Alice Able" in part and "alice" in part and "B.Sc." in part
        assert "Quadratics" in part and "Lenses" in part and "Physics" in part
        assert "#1 of 12" in part and "#4 of 4" in part
        assert (
            "Since November 2024: 1 more quiz, and your average is up 16.7 points "
            "(50.0% → 66.7%)." in part
        )
    # The percent band is a word, not only a colour.
    assert "90.0% (strong)" in rendered.text and "30.0% (needs work)" in rendered.text
    assert "(strong)" in rendered.html and "(needs work)" in rendered.html
    assert "Mathematics: 2 quizzes, 17/20 correct, 85.0% (strong)" in rendered.text


def test_html_is_inlined_and_mail_client_safe():
    html = render_report(make_report()).html
    assert html.count('style="') > 30
    assert "<link" not in html and "<script" not in html.lower()
    assert 'class="card"' in html and "background-color:#eff6ff" in html  # minified
    # What is left of the stylesheet is the media query for phones.
    styles = re.findall(r"<style>(.*?)</style>", html, re.S)
    assert all(block.strip().startswith("@media") for block in styles)
    assert "grid" not in html and "flex" not in html
    assert "<img" not in html and "http" not in html  # no external images or links
    assert "<table" in html


def test_learner_provided_text_is_escaped():
    report = make_report(
        "<b>Maths</b>", full_name=HOSTILE, username='"><script>x</script>', qualification="{{7*7}}"
    )
    rendered = render_report(report)
    assert HOSTILE not in rendered.html
    assert "&lt;img src=x onerror=alert(1)&gt;" in rendered.html
    assert "<script>" not in rendered.html and "&lt;script&gt;" in rendered.html
    assert "<b>Maths</b>" not in rendered.html and "&lt;b&gt;Maths&lt;/b&gt;" in rendered.html
    assert "{{7*7}}" in rendered.html and "49" not in rendered.html
    # The plain-text part shows the name as typed: text is not HTML.
    assert HOSTILE in rendered.text


def test_empty_month_is_short_and_encouraging():
    rendered = render_report(make_empty_report())
    assert rendered.subject == "Your quiz report — December 2024"
    assert "No quizzes this month" in rendered.html
    assert "Your quizzes" not in rendered.html and "By subject" not in rendered.html
    # She took quizzes before: her advice is "Next steps", not "Getting started".
    assert "Next steps" in rendered.html and "NEXT STEPS" in rendered.text
    assert "Getting started" not in rendered.html
    # The encouraging line is shown once, in the "no quizzes" section.
    line = "after 2 quizzes in November 2024"
    assert rendered.text.count(line) == 1 and rendered.html.count(line) == 1
    assert "INSIGHTS" not in rendered.text


def test_first_month_wording():
    report = dataclasses.replace(make_report(), first_month=True, change=None)
    rendered = render_report(report)
    assert "first month of quizzes" in rendered.html
    assert "Since November" not in rendered.text


def test_render_is_deterministic():
    a, b = render_report(make_report()), render_report(make_report())
    assert a == b
    assert message(a) == message(b)


def test_message_structure_and_headers():
    rendered = render_report(make_report())
    raw = message(rendered)
    assert b"\n" not in raw.replace(b"\r\n", b"")  # CRLF only, ready for DATA
    assert raw.isascii()
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert msg["MIME-Version"] == "1.0"
    assert msg["Message-ID"] == "<report-2024-12-7@quiz.example>"
    assert msg["Date"] == "Wed, 01 Jan 2025 08:00:00 +0000"  # naive means UTC
    assert msg["Subject"] == "Your quiz report — December 2024"
    assert "Subject: =?utf-8?" in header_block(raw)  # the em dash is encoded
    assert msg["To"].addresses[0].display_name == "Alice Able"
    assert msg["To"].addresses[0].addr_spec == "alice@example.test"
    assert msg["From"].addresses[0].display_name == "Quiz Reports"
    assert not msg.defects and all(not p.defects for p in msg.walk())


def test_aware_date_keeps_its_offset():
    ist = timezone(timedelta(hours=5, minutes=30))
    raw = message(render_report(make_report()), date=datetime(2025, 1, 1, 13, 30, tzinfo=ist))
    assert "Date: Wed, 01 Jan 2025 13:30:00 +0530" in header_block(raw)


def test_parse_message_round_trip():
    rendered = render_report(make_report(full_name="Zoë Ðurić"))
    parsed = parse_message(message(rendered, to_name="Zoë Ðurić"))
    assert parsed["html"] == rendered.html
    assert parsed["text"] == rendered.text
    assert parsed["headers"] == {
        "From": "Quiz Reports <reports@quiz.example>",
        "To": "Zoë Ðurić <alice@example.test>",
        "Subject": "Your quiz report — December 2024",
        "Message-ID": "<report-2024-12-7@quiz.example>",
        "Date": "Wed, 01 Jan 2025 08:00:00 +0000",
        # A message built without extra headers has no unsubscribe link.
        "List-Unsubscribe": None,
        "List-Unsubscribe-Post": None,
    }


@pytest.mark.parametrize(
    "name",
    [
        "Eve\r\nBcc: victim@example.test",
        "Eve\nBcc: victim@example.test",
        "Eve\rBcc: victim@example.test",
        "Évé\r\nBcc: victim@example.test",
    ],
)
def test_crlf_in_name_does_not_inject_headers(name):
    rendered = render_report(make_report(full_name=name))
    raw = message(rendered, to_name=name)
    headers = header_block(raw)
    assert not re.search(r"^Bcc:", headers, re.M | re.I)
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert msg["Bcc"] is None
    assert [a.addr_spec for a in msg["To"].addresses] == ["alice@example.test"]
    assert msg["To"].addresses[0].display_name.endswith("Bcc: victim@example.test")


def test_long_non_ascii_name_is_folded_and_round_trips():
    name = "Zoë Ðurić-Łukasiewicz " * 9  # 200 characters, as long as full_name allows
    raw = message(render_report(make_report()), to_name=name)
    assert all(len(line) <= 78 + len(" <alice@example.test>") for line in raw.split(b"\r\n"))
    # Several encoded words; RFC 2047 decoders join them without the folding space.
    assert parse_message(raw)["headers"]["To"] == f"{name.strip()} <alice@example.test>"


@pytest.mark.parametrize(
    "name",
    [
        "a" * 5000,
        "Ann Able " * 600,
        '"' * 5000,
        "\\" * 5000,
        "Able, Alice " * 500,
        "Zoë Ðurić " * 500,
        "é" * 5000,
        "😀" * 3000,
    ],
)
def test_a_name_of_any_length_keeps_every_header_line_within_998(name):
    # A 5,000-character name once made a To: line the relay refused: names are capped at 200.
    raw = message(render_report(make_report(full_name=name)), to_name=name)
    assert max(len(line) for line in header_block(raw).split("\r\n")) <= 998
    assert is_canonical(raw)
    to = BytesParser(policy=policy.default).parsebytes(raw)["To"]
    assert [a.addr_spec for a in to.addresses] == ["alice@example.test"]
    capped = " ".join(name.split())[:200].rstrip()
    if capped.isascii():
        assert to.addresses[0].display_name == capped
    else:  # the RFC 2047 decoder, as the preview reads it (see parse_message)
        assert parse_message(raw)["headers"]["To"] == f"{capped} <alice@example.test>"


def test_an_address_longer_than_smtp_carries_is_refused():
    with pytest.raises(InvalidAddressError):
        message(render_report(make_report()), to_addr="a" * 65 + "@example.test")
    with pytest.raises(InvalidAddressError):
        message(render_report(make_report()), to_addr="a@" + "b" * 250 + ".test")
    longest = "a" * 64 + "@" + "b" * 184 + ".test"  # 254 characters
    assert header_block(message(render_report(make_report()), to_addr=longest))


def test_names_with_specials_are_quoted():
    raw = message(render_report(make_report()), to_name='Able, Alice "Al" <x@evil.test>')
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert [a.addr_spec for a in msg["To"].addresses] == ["alice@example.test"]
    assert msg["To"].addresses[0].display_name == 'Able, Alice "Al" <x@evil.test>'


def test_extra_headers():
    raw = message(
        render_report(make_report()),
        extra_headers={
            "List-Unsubscribe": "<https://quiz.example/u/abc>",
            "X-Report-Key": "7:2024-12\r\nBcc: victim@example.test",
        },
    )
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert msg["List-Unsubscribe"] == "<https://quiz.example/u/abc>"
    assert msg["Bcc"] is None and msg["X-Report-Key"].startswith("7:2024-12")
    long_url = "<https://quiz.example/unsubscribe/" + "a" * 120 + ">"
    raw = message(render_report(make_report()), extra_headers={"List-Unsubscribe": long_url})
    assert f"\r\nList-Unsubscribe: {long_url}\r\n" in header_block(raw) + "\r\n"
    with pytest.raises(ValueError):
        message(render_report(make_report()), extra_headers={"X-Long": "a" * 1000})
    with pytest.raises(ValueError):
        message(render_report(make_report()), extra_headers={"From": "x@evil.test"})
    with pytest.raises(ValueError):
        message(render_report(make_report()), extra_headers={"Bad Name": "x"})


@pytest.mark.parametrize(
    "kw",
    [
        {"to_addr": "alice@example.test\r\nBcc: victim@example.test"},
        {"to_addr": "not an address"},
        {"to_addr": ""},
        {"to_addr": "<alice@example.test>"},
        {"to_addr": None},
        {"to_addr": "josé@example.test"},
        {"to_addr": "a..b@example.test"},
        {"from_addr": "Quiz Reports"},
        {"message_id": "report-without-brackets@quiz.example"},
        {"message_id": "<a@b>\r\nBcc: victim@example.test"},
    ],
)
def test_unusable_address_or_message_id_is_refused(kw):
    expected = InvalidAddressError if "to_addr" in kw or "from_addr" in kw else ValueError
    with pytest.raises(expected):
        message(render_report(make_report()), **kw)


def test_boundary_is_fixed_by_message_id():
    rendered = render_report(make_report())
    one = message(rendered, message_id="<one@quiz.example>")
    two = message(rendered, message_id="<two@quiz.example>")
    assert one != two
    assert one == message(rendered, message_id="<one@quiz.example>")


def test_report_from_the_database_renders(session):
    learner = make_user(session, full_name=HOSTILE)
    subject = make_subject(session, "Mathematics")
    quiz = make_quiz(session, make_chapter(session, subject, "Algebra"), "Quadratics")
    make_score(session, learner, quiz, datetime(2024, 12, 31, 23, 59, 59), 7, 10)
    rendered = render_report(build_report(session, learner.id, Month(2024, 12)))
    assert "31 Dec, 23:59" in rendered.text
    assert "7/10 = 70.0% (fair), rank #1 of 1" in rendered.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in rendered.html
    assert parse_message(message(rendered))["html"] == rendered.html


def test_built_messages_are_canonical_for_smtp():
    # The sending lanes skip dot-stuffing and line-end repair for these; that must be safe.
    names = ["Alice Able", "Zoë Ðurić-Łukasiewicz " * 9, 'Able, "Al"']
    for name in names:
        assert is_canonical(message(render_report(make_report(full_name=name)), to_name=name))
    assert is_canonical(message(render_report(make_empty_report())))


def inlined_at_every_render(report) -> str:
    """The HTML as the pipeline made it before templates were pre-inlined: render the
    template (without the band styles its filter now supplies), then inline the result."""
    source = render_module.env.loader.get_source(render_module.env, render_module.HTML_TEMPLATE)
    plain = re.sub(r' style="{{[^}]*band_style }}"', "", source[0])
    context = render_module.report_context(report)
    return render_module._inliner.inline(render_module.env.from_string(plain).render(context))


@pytest.mark.parametrize(
    "report",
    [
        make_report(),
        make_empty_report(),
        make_report("<b>Maths</b>", full_name=HOSTILE, username="o'brien", qualification='"Q"'),
        dataclasses.replace(make_report(), first_month=True, change=None),
    ],
    ids=["typical", "empty", "hostile", "first month"],
)
def test_the_preinlined_template_renders_what_inlining_each_email_would(report):
    assert document_events(render_report(report).html) == document_events(
        inlined_at_every_render(report)
    )


def test_a_report_from_the_database_renders_as_inlining_each_email_would(session):
    learner = make_user(session, full_name="Zoë O'Neil")
    subject = make_subject(session, "Mathematics")
    chapter = make_chapter(session, subject, "Algebra")
    for n, (scored, total) in enumerate([(9, 10), (6, 10), (2, 10)]):
        quiz = make_quiz(session, chapter, f"Quiz {n}")
        make_score(session, learner, quiz, datetime(2024, 12, 3 + n, 9), scored, total)
    report = build_report(session, learner.id, Month(2024, 12))
    html = render_report(report).html
    assert document_events(html) == document_events(inlined_at_every_render(report))
    # Every band kept its colour: strong, fair and needs work.
    assert all(colour in html for colour in ("#166534", "#92400e", "#991b1b"))


def test_jinja_inside_an_html_tag_cannot_be_preinlined():
    with pytest.raises(ValueError, match="inside an HTML tag"):
        render_module.preinlined_html('<td{% if x %} class="a"{% endif %}>y</td>')
