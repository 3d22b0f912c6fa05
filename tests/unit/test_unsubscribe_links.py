"""Unsubscribe links: a signed token per learner, the footer link and the List-Unsubscribe
headers (RFC 8058) of every report, the same in the preview as in the mail."""

import dataclasses
import re

import pytest
from itsdangerous import URLSafeSerializer

from tests.helpers.reports import make_report
from webapp.core import unsubscribe
from webapp.core.mail.mime import build_message
from webapp.core.mail.mime import parse_message
from webapp.core.mail.render import letter_for
from webapp.core.mail.render import render_report
from webapp.core.unsubscribe import UnsubscribeLinks
from webapp.infra.settings import Settings

LINKS = UnsubscribeLinks("https://reports.example.org", "test-secret")


def test_a_token_names_its_learner_and_is_the_same_every_time():
    token = LINKS.token(42)
    assert LINKS.user_id(token) == 42
    assert LINKS.token(42) == token
    assert LINKS.token(43) != token
    assert LINKS.url(42) == f"https://reports.example.org/unsubscribe/{token}"
    assert re.fullmatch(r"[A-Za-z0-9_.-]{20,80}", token), token


_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@pytest.mark.parametrize(
    "forge",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # the signature altered
        lambda t: "NDM" + t[t.index(".") :],  # another learner's id with this signature
        lambda t: t.split(".")[0],  # no signature
        lambda t: UnsubscribeLinks("x", "another key").token(42),  # signed with another key
        lambda t: URLSafeSerializer("test-secret").dumps(42),  # the key without our salt
        lambda t: LINKS._serializer.dumps("42"),  # a value that is not a learner id
        lambda t: LINKS._serializer.dumps(True),
        lambda t: LINKS._serializer.dumps(-1),
        # Only the unused bits of the last base64 character changed: the same bytes decode.
        lambda t: t[:-1] + _B64[_B64.index(t[-1]) ^ 1],
        lambda t: t + "x" * 300,  # far too long
        lambda t: "",
    ],
)
def test_a_forged_or_altered_token_names_nobody(forge):
    assert LINKS.user_id(forge(LINKS.token(42))) is None


def test_the_headers_ask_for_one_click():
    assert unsubscribe.headers("https://r.example/unsubscribe/abc") == {
        "List-Unsubscribe": "<https://r.example/unsubscribe/abc>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    assert unsubscribe.headers("") == {}


def test_a_run_letter_links_each_learner_to_their_own_page(tmp_path):
    settings = Settings(
        SECRET_KEY="k", PUBLIC_BASE_URL="https://reports.example.org", INSTANCE_PATH=str(tmp_path)
    )
    report = make_report()
    rendered = render_report(report, letter_for(settings))
    url = rendered.unsubscribe_url
    assert url.startswith("https://reports.example.org/unsubscribe/")
    assert unsubscribe.links_for(settings).user_id(url.rsplit("/", 1)[1]) == report.learner.id
    # The footer shows it, in both parts.
    assert f'<a href="{url}"' in rendered.html and ">Unsubscribe</a>" in rendered.html
    assert f"Unsubscribe: {url}" in rendered.text
    other = dataclasses.replace(report, learner=dataclasses.replace(report.learner, id=99))
    assert render_report(other, letter_for(settings)).unsubscribe_url != url


def test_a_development_worker_signs_with_the_web_apps_generated_key(tmp_path):
    # Without SECRET_KEY both processes use instance/secret_key: a link a worker mailed is
    # one the web app accepts.
    settings = Settings(SECRET_KEY="", INSTANCE_PATH=str(tmp_path))
    token = unsubscribe.links_for(settings).token(7)
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    again = Settings(SECRET_KEY="", INSTANCE_PATH=str(tmp_path), PORT=5001)
    assert unsubscribe.links_for(again).user_id(token) == 7
    assert unsubscribe.links_for(Settings(SECRET_KEY="other")).user_id(token) is None


def test_a_letter_without_links_mails_no_link():
    rendered = render_report(make_report())
    assert rendered.unsubscribe_url == ""
    assert "Unsubscribe" not in rendered.html and "Unsubscribe" not in rendered.text


def test_the_headers_go_into_the_message_on_one_line_each():
    rendered = render_report(make_report(), letter_for(Settings(SECRET_KEY="k")))
    raw = build_message(
        rendered,
        from_addr="Quiz Reports <reports@quiz.example>",
        to_addr="alice@example.test",
        to_name="Alice Able",
        message_id="<report-2024-12-7@quiz.example>",
        date=make_report().month.start,
        extra_headers=unsubscribe.headers(rendered.unsubscribe_url),
    )
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    assert f"\r\nList-Unsubscribe: <{rendered.unsubscribe_url}>\r\n" in head
    assert "\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in head
    headers = parse_message(raw)["headers"]
    assert headers["List-Unsubscribe"] == f"<{rendered.unsubscribe_url}>"
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
