"""A run's own subject and intro, from the API and the dashboard to the mailed Subject header,
the dry run, the run page and the preview."""

import pytest
from sqlalchemy import func
from sqlalchemy import select

from tests.helpers.apps import rows_of
from tests.helpers.apps import with_session
from tests.helpers.factories import MONTH
from tests.helpers.web import bearer
from tests.helpers.web import confirmed
from tests.helpers.web import htmx
from tests.helpers.web import text_of
from webapp.core import launch
from webapp.core.models import Delivery
from webapp.core.models import ReportRun
from webapp.core.months import Month

# Not ASCII, so the header is encoded on the way out (RFC 2047) and must come back whole.
SUBJECT = "Your December — well done, Zoë!"
INTRO = "Thank you for a great year.\n\nThe platform is closed from 24 to 26 December."
ALL = "/scheduled/generate-all-monthly-reports"
ONE = "/scheduled/generate-user-report"


def runs_of(app) -> list[tuple]:
    """Every run's (scope, subject, intro), in order."""
    return rows_of(
        app, select(ReportRun.scope, ReportRun.subject, ReportRun.intro).order_by(ReportRun.id)
    )


def count_of(app, model) -> int:
    """How many rows of the model the app's database has."""
    return with_session(app, lambda s: s.scalar(select(func.count()).select_from(model)))


def subjects(smtp_server) -> list[str]:
    """The decoded Subject header of every message the server received."""
    return [message.email["Subject"] for message in smtp_server.messages]


# --- The API --------------------------------------------------------------------------------


def test_a_run_started_with_a_subject_and_intro_mails_that_subject(
    mail_app, api_world, smtp_server
):
    client = mail_app.test_client()
    body = {"month_year": MONTH, "subject": f"  {SUBJECT} ", "intro": INTRO.replace("\n", "\r\n")}
    r = bearer(client, "POST", ALL, api_world["token"], json=body)
    assert r.status_code == 202, r.get_json()
    # The reply is the one it always was: the wording is not echoed.
    assert set(r.get_json()) == {"message", "task_id", "month_year", "status", "total"}

    smtp_server.wait_for(3)
    assert subjects(smtp_server) == [SUBJECT] * 3
    assert runs_of(mail_app) == [("all", SUBJECT, INTRO)]


def test_a_run_without_them_mails_the_usual_subject(mail_app, api_world, smtp_server):
    r = bearer(mail_app.test_client(), "POST", ALL, api_world["token"], json={"month_year": MONTH})
    assert r.status_code == 202
    smtp_server.wait_for(3)
    assert subjects(smtp_server) == ["Your quiz report — December 2024"] * 3
    assert runs_of(mail_app) == [("all", None, None)]


def test_one_learners_report_with_its_own_subject(mail_app, api_world, smtp_server):
    uid = api_world["learner_ids"][0]
    body = {"user_id": uid, "month_year": MONTH, "subject": "Just for you", "intro": None}
    r = bearer(mail_app.test_client(), "POST", ONE, api_world["token"], json=body)
    assert r.status_code == 202, r.get_json()
    assert set(r.get_json()) == {"message", "task_id", "user_id", "month_year", "status"}
    smtp_server.wait_for(1)
    assert subjects(smtp_server) == ["Just for you"]
    assert runs_of(mail_app) == [("user", "Just for you", None)]


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"subject": 42}, "The subject must be text"),
        ({"subject": ["a"]}, "The subject must be text"),
        ({"intro": {"text": "hi"}}, "The intro must be text"),
        ({"intro": True}, "The intro must be text"),
        ({"subject": "Hi\nBcc: all@example.test"}, "one line of plain text: it has a line break"),
        ({"subject": "x" * 151}, "151 characters long; at most 150"),
        ({"intro": "y" * 2001}, "2,001 characters long; at most 2,000"),
        ({"intro": "Hi\x00"}, "it has a control character (U+0000)"),
    ],
)
@pytest.mark.parametrize("path", [ALL, ONE])
def test_a_bad_subject_or_intro_is_400_in_words_and_starts_nothing(
    mail_app, api_world, smtp_server, path, extra, words
):
    body = {"month_year": MONTH, "user_id": api_world["learner_ids"][0], **extra}
    r = bearer(mail_app.test_client(), "POST", path, api_world["token"], json=body)
    assert r.status_code == 400
    assert words in r.get_json()["message"]
    assert count_of(mail_app, ReportRun) == 0 and count_of(mail_app, Delivery) == 0
    assert smtp_server.messages == []


def test_a_dry_run_checks_them_too_and_answers_as_before(mail_app, api_world):
    client, token = mail_app.test_client(), api_world["token"]
    bad = bearer(
        client, "POST", ALL, token, json={"month_year": MONTH, "dry_run": True, "intro": 7}
    )
    assert bad.status_code == 400 and "The intro must be text" in bad.get_json()["message"]
    body = {"month_year": MONTH, "dry_run": True, "subject": SUBJECT}
    good = bearer(client, "POST", ALL, token, json=body)
    assert good.status_code == 200
    assert set(good.get_json()) == {"month_year", "to_send", "skipped", "warnings"}
    assert count_of(mail_app, ReportRun) == 0


# --- The dashboard --------------------------------------------------------------------------


def test_the_start_form_has_the_optional_fields_with_labels_and_hints(admin):
    html = admin.get("/").get_data(as_text=True)
    assert '<label for="subject">Subject</label>' in html
    assert '<label for="intro">Intro</label>' in html
    default = f"Your quiz report — {Month.last_full().label}"
    assert f'placeholder="{default}"' in html
    assert 'aria-describedby="subject-hint"' in html and 'id="subject-hint"' in html
    assert '<textarea aria-describedby="intro-hint"' in html and 'id="intro-hint"' in html


def test_the_dry_run_shows_the_subject_and_intro_escaped_and_the_start_uses_them(
    mail_app, admin, smtp_server
):
    subject = "<b>Bold</b> news & more"
    intro = "Dear learners,\r\n\r\n<script>alert(1)</script> keep going!"
    form = {"month": MONTH, "scope": "all", "subject": subject, "intro": intro}
    dry = htmx(admin, "POST", "/runs", data={**form, "dry_run": "1"})
    assert dry.status_code == 200
    html = dry.get_data(as_text=True)
    assert "<b>Bold</b>" not in html and "<script>alert(1)</script>" not in html
    assert "&lt;b&gt;Bold&lt;/b&gt; news &amp; more" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; keep going!" in html
    words = text_of(dry)
    assert f"Subject {subject} Intro Dear learners," in words
    # The form keeps what was typed, for the start that follows.
    assert 'value="&lt;b&gt;Bold&lt;/b&gt; news &amp; more"' in html
    assert count_of(mail_app, ReportRun) == 0 and smtp_server.messages == []

    started = confirmed(admin, "/runs", {**form, "start": "1"})
    assert started.status_code == 303
    smtp_server.wait_for(3)
    assert subjects(smtp_server) == [subject] * 3
    stored_intro = "Dear learners,\n\n<script>alert(1)</script> keep going!"
    assert runs_of(mail_app) == [("all", subject, stored_intro)]

    page = admin.get(started.headers["Location"])
    html = page.get_data(as_text=True)
    assert "&lt;b&gt;Bold&lt;/b&gt; news &amp; more" in html and "<b>Bold</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "(the usual subject)" not in text_of(page)


def test_the_dry_run_names_the_usual_subject_when_none_is_given(admin):
    dry = admin.post("/runs", data={"month": MONTH, "scope": "all", "dry_run": "1"})
    words = text_of(dry)
    assert "Subject Your quiz report — December 2024 (the usual subject)" in words
    assert "Intro None: the report starts at its heading." in words


def test_bad_values_are_refused_beside_their_fields(mail_app, admin, smtp_server):
    form = {"month": MONTH, "scope": "all", "subject": "x" * 151, "intro": "Tab\there"}
    for button in ("start", "dry_run"):
        response = admin.post("/runs", data={**form, button: "1"})
        assert response.status_code == 422
        html = response.get_data(as_text=True)
        assert 'id="subject-errors"' in html and 'id="intro-errors"' in html
        assert 'aria-describedby="subject-hint subject-errors"' in html
        words = text_of(response)
        assert "The subject is 151 characters long; at most 150 are allowed." in words
        assert "line breaks are fine, but it has a tab (U+0009) at character 4" in words
        assert "Dry run for" not in words
    assert count_of(mail_app, ReportRun) == 0 and smtp_server.messages == []


def test_the_run_page_shows_the_usual_subject_of_a_run_without_its_own(mail_app, admin):
    run_id = with_session(
        mail_app, lambda s: launch.start_all(s, Month.parse(MONTH), mail_from="r@quiz.example").id
    )
    words = text_of(admin.get(f"/runs/{run_id}"))
    assert "Subject Your quiz report — December 2024 (the usual subject)" in words
    assert "Intro" not in words


# --- Preview and resend ---------------------------------------------------------------------


def test_the_preview_of_a_queued_report_shows_its_runs_subject(mail_app, admin, world):
    uid = world["learner_ids"][0]
    with_session(
        mail_app,
        lambda s: launch.start_all(
            s, Month.parse(MONTH), mail_from="r@quiz.example", subject="Queued <i>news</i>"
        ),
    )
    page = admin.get(f"/learners/{uid}/preview/{MONTH}")
    assert page.status_code == 200
    assert "Subject Queued <i>news</i>" in text_of(page)
    assert "Queued &lt;i&gt;news&lt;/i&gt;" in page.get_data(as_text=True)


def test_a_resend_from_the_run_page_keeps_the_runs_wording(mail_app, admin, world, smtp_server):
    confirmed(
        admin,
        "/runs",
        {"month": MONTH, "scope": "all", "subject": SUBJECT, "intro": "Hi", "start": "1"},
    )
    smtp_server.wait_for(3)
    uid = world["learner_ids"][0]
    delivery_id = with_session(
        mail_app, lambda s: s.scalar(select(Delivery.id).where(Delivery.user_id == uid))
    )
    assert admin.post(f"/deliveries/{delivery_id}/resend").status_code == 303
    smtp_server.wait_for(4)
    assert subjects(smtp_server) == [SUBJECT] * 4
    assert runs_of(mail_app) == [("all", SUBJECT, "Hi"), ("user", SUBJECT, "Hi")]
