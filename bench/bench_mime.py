"""Time the ways of rendering a report and building its MIME message; print the medians.

Run from the project root: .venv/bin/python bench/bench_mime.py [runs]
Every MIME variant is parsed back with email.parser and must give the same HTML and text.
"""

import base64
import binascii
import hashlib
import statistics
import sys
import time
from datetime import UTC
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.parser import BytesParser
from email.utils import format_datetime
from importlib.metadata import version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import css_inline  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from webapp.core.mail import mime  # noqa: E402
from webapp.core.mail import render  # noqa: E402
from webapp.core.models import Chapter  # noqa: E402
from webapp.core.models import Quiz  # noqa: E402
from webapp.core.models import Score  # noqa: E402
from webapp.core.models import Subject  # noqa: E402
from webapp.core.models import User  # noqa: E402
from webapp.core.months import Month  # noqa: E402
from webapp.core.report.builder import build_report  # noqa: E402
from webapp.core.report.data import Report  # noqa: E402
from webapp.infra import schema  # noqa: E402
from webapp.infra.database import make_engine  # noqa: E402

FROM = "Quiz Reports <reports@quiz.example>"
TO_ADDR = "zoe.lindqvist@example.test"
TO_NAME = "Zoë Lindqvist"
MESSAGE_ID = "<report-2024-12-42.5f0c@quiz.example>"
DATE = datetime(2025, 1, 1, 8, 0, 0)


def realistic_report() -> Report:
    """A learner with 25 attempts over 3 subjects and 6 chapters, like a busy month.

    Built by the product's own report builder from rows in an in-memory database.
    """
    engine = make_engine("sqlite://")
    schema.upgrade(engine)
    chapters = [
        ("Mathematics", "Algebra"),
        ("Mathematics", "Geometry"),
        ("Physics", "Optics"),
        ("Physics", "Mechanics"),
        ("Chemistry", "Acids and bases"),
        ("Chemistry", "Organic chemistry"),
    ]
    with Session(engine) as session:
        learner = User(
            username="zoe", email=TO_ADDR, full_name=TO_NAME, qualification="B.Sc. Physics"
        )
        others = [User(username=f"peer{i}", email=f"peer{i}@example.test") for i in range(40)]
        session.add_all([learner, *others])
        subjects = {name: Subject(name=name) for name, _ in chapters}
        session.add_all(subjects.values())
        session.flush()
        quizzes = []
        for subject, chapter_name in chapters:
            chapter = Chapter(subject_id=subjects[subject].id, name=chapter_name)
            session.add(chapter)
            session.flush()
            for n in range(1, 6):
                quiz = Quiz(chapter_id=chapter.id, name=f"{chapter_name} practice set {n}")
                session.add(quiz)
                quizzes.append(quiz)
        session.flush()
        for i in range(25):
            total = 10 + (i % 3) * 5
            quiz = quizzes[(i % 6) * 5 + i // 6]
            when = datetime(2024, 12, 1 + i, 9 + i % 12, i % 60)
            session.add(
                Score(
                    quiz_id=quiz.id,
                    user_id=learner.id,
                    timestamp=when,
                    total_scored=(i * 7) % (total + 1),
                    total_questions=total,
                )
            )
            for k, peer in enumerate(others[: 10 + i]):
                session.add(
                    Score(
                        quiz_id=quiz.id,
                        user_id=peer.id,
                        timestamp=when,
                        total_scored=(k * 3) % (total + 1),
                        total_questions=total,
                    )
                )
        for i in range(18):
            when = datetime(2024, 11, 1 + i, 10)
            session.add(
                Score(
                    quiz_id=quizzes[i].id,
                    user_id=learner.id,
                    timestamp=when,
                    total_scored=6,
                    total_questions=11,
                )
            )
        session.commit()
        return build_report(session, learner.id, Month(2024, 12))


def email_message(rendered, cte: str | None) -> bytes:
    msg = EmailMessage()
    msg["From"] = FROM
    msg["To"] = f"{TO_NAME} <{TO_ADDR}>"
    msg["Subject"] = rendered.subject
    msg["Date"] = format_datetime(DATE.replace(tzinfo=UTC))
    msg["Message-ID"] = MESSAGE_ID
    kw = {"cte": cte} if cte else {}
    msg.set_content(rendered.text, **kw)
    msg.add_alternative(rendered.html, subtype="html", **kw)
    msg.set_boundary("=_qr_" + hashlib.sha256(MESSAGE_ID.encode()).hexdigest()[:32])
    return msg.as_bytes(policy=policy.SMTP)


def compat32_mime(rendered) -> bytes:
    msg = MIMEMultipart("alternative")
    msg["From"] = FROM
    msg["To"] = f"{TO_NAME} <{TO_ADDR}>"
    msg["Subject"] = rendered.subject
    msg["Date"] = format_datetime(DATE.replace(tzinfo=UTC))
    msg["Message-ID"] = MESSAGE_ID
    msg.attach(MIMEText(rendered.text, "plain", "utf-8"))  # utf-8 means base64 in compat32
    msg.attach(MIMEText(rendered.html, "html", "utf-8"))
    msg.set_boundary("=_qr_" + hashlib.sha256(MESSAGE_ID.encode()).hexdigest()[:32])
    return msg.as_bytes(policy=policy.compat32.clone(linesep="\r\n"))


def template(rendered) -> bytes:
    return mime.build_message(
        rendered,
        from_addr=FROM,
        to_addr=TO_ADDR,
        to_name=TO_NAME,
        message_id=MESSAGE_ID,
        date=DATE,
    )


def _b64_binascii(text: str) -> bytes:
    data = text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")
    encoded = binascii.b2a_base64(data, newline=False)
    return b"".join(encoded[i : i + 76] + b"\r\n" for i in range(0, len(encoded), 76))


def _b64_encodebytes(text: str) -> bytes:
    data = text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def check(raw: bytes, rendered, *, adds_final_newline: bool = False) -> None:
    """The message parses back to the same parts, with CRLF line ends only."""
    assert b"\n" not in raw.replace(b"\r\n", b"")
    parsed = mime.parse_message(raw)
    html, text = rendered.html, rendered.text
    if adds_final_newline:
        # EmailMessage.set_content ends every text part with a newline: not byte-exact.
        html, text = (s if s.endswith("\n") else s + "\n" for s in (html, text))
    assert parsed["html"] == html, "html differs"
    assert parsed["text"] == text, "text differs"
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert msg["Subject"] == rendered.subject
    assert msg.get_content_type() == "multipart/alternative"
    kinds = [p.get_content_type() for p in msg.iter_parts()]
    assert kinds == ["text/plain", "text/html"], kinds


def median_ms(fn, runs: int) -> float:
    fn()  # warm up
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples) * 1000


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    report = realistic_report()
    rendered = render.render_report(report)
    print(
        f"Python {sys.version.split()[0]}, css-inline {version('css-inline')}, "
        f"Jinja2 {version('Jinja2')}"
    )
    print(
        f"report: {len(report.attempts)} attempts, html {len(rendered.html)} chars, "
        f"text {len(rendered.text)} chars; median of {runs} runs\n"
    )

    template_html = render.env.get_template("email/report.html")
    context = render.report_context(report)
    raw_html = template_html.render(context)
    options = {"keep_at_rules": True, "load_remote_stylesheets": False, "minify_css": True}
    inliner = css_inline.CSSInliner(**options)
    assert inliner.inline(raw_html) == css_inline.inline(raw_html, **options)
    print("render")
    for name, fn in [
        ("jinja2 html template only", lambda: template_html.render(context)),
        (
            "css_inline.inline (new inliner per call)",
            lambda: css_inline.inline(raw_html, **options),
        ),
        ("CSSInliner reused", lambda: inliner.inline(raw_html)),
        ("render_report (both templates + inline)", lambda: render.render_report(report)),
    ]:
        print(f"  {name:48s} {median_ms(fn, runs):8.3f} ms")

    assert _b64_binascii(rendered.html) == _b64_encodebytes(rendered.html)
    print("\nbase64 body lines")
    for name, fn in [
        ("base64.encodebytes + CRLF replace", lambda: _b64_encodebytes(rendered.html)),
        ("binascii.b2a_base64 + 76-char slices", lambda: _b64_binascii(rendered.html)),
    ]:
        print(f"  {name:48s} {median_ms(fn, runs):8.3f} ms")

    print("\nMIME message (each verified by parsing it back)")
    variants = [
        ("EmailMessage, default policy, auto CTE", lambda: email_message(rendered, None)),
        (
            "EmailMessage, default policy, quoted-printable",
            lambda: email_message(rendered, "quoted-printable"),
        ),
        ("EmailMessage, default policy, base64", lambda: email_message(rendered, "base64")),
        ("compat32 MIMEMultipart, base64", lambda: compat32_mime(rendered)),
        ("byte template, base64 (mime.build_message)", lambda: template(rendered)),
    ]
    for name, fn in variants:
        check(fn(), rendered, adds_final_newline=name.startswith("EmailMessage"))
        print(f"  {name:48s} {median_ms(fn, runs):8.3f} ms")
    assert template(rendered) == template(rendered)  # deterministic


if __name__ == "__main__":
    main()
