"""Learners, preview, test sends, the outbox and API tokens."""

from datetime import datetime
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy import update

from tests.helpers.apps import reconfigure
from tests.helpers.factories import MONTH
from tests.helpers.factories import make_admin
from tests.helpers.factories import make_chapter
from tests.helpers.factories import make_quiz
from tests.helpers.factories import make_score
from tests.helpers.factories import make_subject
from tests.helpers.factories import make_user
from tests.helpers.web import bearer
from tests.helpers.web import confirmed
from tests.helpers.web import htmx
from tests.helpers.web import login
from tests.helpers.web import text_of
from webapp.core.clock import utcnow
from webapp.core.models import ApiToken
from webapp.core.models import Delivery
from webapp.core.models import User
from webapp.core.months import Month
from webapp.core.retention import cutoff
from webapp.core.retention import purge_mailed_copies
from webapp.infra.capture import save_message
from webapp.web import filters
from webapp.web.services import get_session


def delivery_of(app, user_id: int) -> dict:
    """The learner's delivery row as a dict of its columns ({} when there is none)."""
    with app.app_context():
        d = get_session().scalar(select(Delivery).where(Delivery.user_id == user_id))
        return {c.key: getattr(d, c.key) for c in Delivery.__table__.columns} if d else {}


# --- Learners -------------------------------------------------------------------------------


def test_learners_are_searched_by_name_or_email(admin, world):
    assert "4 learners" in text_of(admin.get("/learners"))
    by_name = text_of(admin.get("/learners?q=ortega"))
    assert "Tomás Ortega" in by_name and "Priya" not in by_name
    assert "Tomás Ortega" in text_of(admin.get("/learners?q=ORTEGA"))  # case does not matter
    by_email = text_of(admin.get("/learners?q=amara@example"))
    assert "Amara Okafor" in by_email and "1 learner" in by_email
    nothing = text_of(admin.get("/learners?q=%25"))  # LIKE wildcards are literal
    assert "No learner matches" in nothing


def test_learner_search_is_paginated_and_htmx_gets_the_results_alone(mail_app, admin):
    with mail_app.app_context():
        s = get_session()
        for i in range(30):
            make_user(s, full_name=f"Zed {i:02d}", username=f"zed{i:02d}")
        s.commit()
    first = text_of(admin.get("/learners?q=zed"))
    assert "30 learners" in first and "Page 1 of 2" in first and "Zed 24" in first
    second = htmx(admin, "GET", "/learners?q=zed&page=2")
    html = second.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="learner-results"')
    assert "Zed 29" in html and "Zed 00" not in html
    past_the_end = text_of(admin.get("/learners?q=zed&page=9"))
    assert "30 learners" in past_the_end and "Page 2 of 2" in past_the_end
    assert "Zed 29" in past_the_end


def test_suggestions_offer_name_and_email(admin, world):
    html = htmx(admin, "GET", "/learners/suggest?learner=pri").get_data(as_text=True)
    assert '<option value="Priya Raman <priya@example.test>">' in html
    assert "Tomás" not in html


def test_learner_page_lists_months_with_their_state(admin, world, smtp_server):
    confirmed(admin, "/runs", {"month": MONTH, "scope": "all", "start": "1"})
    smtp_server.wait_for(3)
    uid = world["learner_ids"][0]
    words = text_of(admin.get(f"/learners/{uid}"))
    assert "Priya Raman" in words
    assert "December 2024 1 ✓ Sent" in words
    assert f"{Month.last_full().label} 0 not sent yet" in words
    assert "Preview December 2024" in words and "Resend December 2024" in words


def test_the_month_still_going_is_offered_for_preview_not_for_sending(mail_app, admin, world):
    uid = world["learner_ids"][0]
    with mail_app.app_context():
        session = get_session()
        quiz = make_quiz(session, name="This month's quiz")
        make_score(session, session.get(User, uid), quiz, utcnow(), 3, 4)
        session.commit()
    words = text_of(admin.get(f"/learners/{uid}"))
    label = Month.current().label
    assert f"{label} 1 not sent yet — Preview {label} sent once the month is over" in words
    assert f"Send {label}" not in words


def test_send_from_the_learner_page_mails_that_month(mail_app, admin, world, smtp_server):
    uid = world["learner_ids"][1]
    response = htmx(admin, "POST", f"/learners/{uid}/send", data={"month": MONTH})
    assert response.status_code == 200
    assert response.get_data(as_text=True).lstrip().startswith('<section id="learner-months"')
    assert "report for December 2024 is on its way" in text_of(response)
    [message] = smtp_server.wait_for(1)
    assert message.rcpt_tos == [world["emails"][1]]
    assert delivery_of(mail_app, uid)["state"] == "sent"


def test_send_refuses_a_future_month_and_unknown_learners(admin, world):
    uid = world["learner_ids"][0]
    future = str(Month.current().next())
    refused = admin.post(f"/learners/{uid}/send", data={"month": future})
    assert refused.status_code == 400
    assert "is in the future" in text_of(refused)
    assert admin.get("/learners/9999").status_code == 404
    assert admin.get(f"/learners/{world['admin_id']}").status_code == 404  # not a learner


# --- Preview --------------------------------------------------------------------------------


def test_preview_of_an_unsent_report_renders_it_as_the_worker_would(admin, world):
    uid = world["learner_ids"][2]  # Amara: 8/10 in December
    page = admin.get(f"/learners/{uid}/preview/{MONTH}")
    assert page.status_code == 200
    words = text_of(page)
    assert "Rendered now, exactly as a worker renders it" in words
    assert "Subject Your quiz report — December 2024" in words
    assert "To Amara Okafor <amara@example.test>" in words
    html = page.get_data(as_text=True)
    assert f'src="/learners/{uid}/preview/{MONTH}/email.html"' in html
    # Readable by the page around it (to size the frame), never able to run a script.
    assert '<iframe class="email-frame" sandbox="allow-same-origin"' in html
    assert "allow-scripts" not in html

    frame = admin.get(f"/learners/{uid}/preview/{MONTH}/email.html")
    assert frame.headers["Content-Security-Policy"] == (
        "sandbox allow-same-origin; default-src 'none'; style-src 'unsafe-inline'; "
        "frame-ancestors 'self'"
    )
    assert "80.0%" in frame.get_data(as_text=True)

    text = text_of(admin.get(f"/learners/{uid}/preview/{MONTH}?view=text"))
    assert "Average score: 80.0%" in text


def test_preview_of_a_sent_report_shows_the_stored_bytes(mail_app, admin, world, smtp_server):
    uid = world["learner_ids"][2]
    admin.post(f"/learners/{uid}/send", data={"month": MONTH})
    [mailed] = smtp_server.wait_for(1)
    # The learner's data changes after sending; the preview still shows what was mailed.
    with mail_app.app_context():
        s = get_session()
        quiz = make_quiz(s, make_chapter(s, make_subject(s, "Chemistry")))
        make_score(s, s.get(User, uid), quiz, datetime(2024, 12, 20, 9), 1, 10)
        s.commit()
    words = text_of(admin.get(f"/learners/{uid}/preview/{MONTH}?view=text"))
    assert "This is the exact message that was mailed" in words
    assert "Average score: 80.0%" in words and "Chemistry" not in words
    message_id = mailed.email["Message-ID"]
    assert f"Message-ID {message_id}" in text_of(admin.get(f"/learners/{uid}/preview/{MONTH}"))


def test_preview_of_a_report_whose_copy_was_removed_renders_it_afresh_and_says_so(
    mail_app, admin, api_world, smtp_server
):
    uid = api_world["learner_ids"][2]
    admin.post(f"/learners/{uid}/send", data={"month": MONTH})
    [mailed] = smtp_server.wait_for(1)
    # 401 days on, retention removed the copy; meanwhile the learner's data changed.
    with mail_app.app_context():
        s = get_session()
        long_ago = utcnow() - timedelta(days=401)
        s.execute(update(Delivery).values(created_at=long_ago, sent_at=long_ago))
        s.commit()
        assert purge_mailed_copies(s, cutoff(utcnow(), 400)).purged == 1
        quiz = make_quiz(s, make_chapter(s, make_subject(s, "Chemistry")))
        make_score(s, s.get(User, uid), quiz, datetime(2024, 12, 20, 9), 1, 10)
        s.commit()
    said = (
        "The mailed copy was removed after 400 days (MESSAGE_RETENTION_DAYS); this is the "
        "report rendered again from today’s data, which may differ from what was mailed."
    )
    for view in ("", "?view=text"):
        words = text_of(admin.get(f"/learners/{uid}/preview/{MONTH}{view}"))
        assert said in words and "This is the exact message" not in words
    words = text_of(admin.get(f"/learners/{uid}/preview/{MONTH}"))
    assert f"Message-ID {mailed.email['Message-ID']}" in words
    mailed_hash = delivery_of(mail_app, uid)["message_sha256"]
    assert f"SHA-256 of the message as mailed: {mailed_hash}." in words
    assert "Chemistry" in text_of(admin.get(f"/learners/{uid}/preview/{MONTH}?view=text"))
    frame = admin.get(f"/learners/{uid}/preview/{MONTH}/email.html")
    assert frame.status_code == 200 and "Chemistry" in frame.get_data(as_text=True)
    test_sent = htmx(admin, "POST", f"/learners/{uid}/preview/{MONTH}/send-test")
    assert "A test copy of Amara Okafor’s report was sent" in text_of(test_sent)
    data = bearer(
        admin, "GET", f"/scheduled/report-data?user_id={uid}&month_year={MONTH}", api_world["token"]
    )
    assert data.status_code == 200 and data.get_json()["user"]["id"] == uid
    assert admin.get(f"/learners/{uid}").status_code == 200


def test_send_a_test_to_me_leaves_the_ledger_alone(mail_app, admin, world, smtp_server):
    uid = world["learner_ids"][0]
    admin.post(f"/learners/{uid}/send", data={"month": MONTH})
    smtp_server.wait_for(1)
    before = delivery_of(mail_app, uid)
    response = htmx(admin, "POST", f"/learners/{uid}/preview/{MONTH}/send-test")
    assert "A test copy of Priya Raman’s report was sent to admin@example.test." in text_of(
        response
    )
    test_copy = smtp_server.wait_for(2)[1]
    assert test_copy.rcpt_tos == ["admin@example.test"]
    assert test_copy.email["Subject"] == "[Test] Your quiz report — December 2024"
    assert test_copy.email["Message-ID"] != before["message_id"]
    assert delivery_of(mail_app, uid) == before


def test_send_a_test_without_javascript_and_with_the_server_down(mail_app, admin, world):
    uid = world["learner_ids"][0]
    reconfigure(mail_app, SMTP_PORT=1)  # nothing listens there
    response = admin.post(f"/learners/{uid}/preview/{MONTH}/send-test")
    assert response.status_code == 303
    words = text_of(admin.get(response.headers["Location"]))
    assert "The test was not sent:" in words
    assert delivery_of(mail_app, uid) == {}


def test_preview_of_another_month_and_bad_months(admin, world):
    uid = world["learner_ids"][0]
    picked = admin.get(f"/learners/{uid}/preview?month=2024-11")
    assert picked.headers["Location"] == f"/learners/{uid}/preview/2024-11"
    assert admin.get(f"/learners/{uid}/preview?month=2999-01").status_code == 400
    assert admin.get(f"/learners/{uid}/preview/not-a-month").status_code == 404
    empty = text_of(admin.get(f"/learners/{uid}/preview/2024-11?view=text"))
    assert "NO QUIZZES THIS MONTH" in empty


def test_preview_of_a_learner_without_email_says_it_cannot_be_mailed(admin, world):
    words = text_of(admin.get(f"/learners/{world['no_email_id']}/preview/{MONTH}"))
    assert "no email address on file: this report cannot be mailed" in words


# --- Outbox ---------------------------------------------------------------------------------


def _eml(subject: str) -> bytes:
    """A small HTML message as the capture server stores it."""
    return (
        f"From: r@quiz.example\r\nTo: a@example.test\r\nSubject: {subject}\r\n"
        "Message-ID: <x@quiz.example>\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        f"<p>{subject} body</p>\r\n"
    ).encode()


def test_outbox_lists_captured_messages_newest_first_and_opens_one(capture_app, tmp_path):
    outbox = tmp_path / "outbox"
    save_message(outbox, "r@quiz.example", ["a@example.test"], _eml("First"))
    newest = save_message(outbox, "r@quiz.example", ["a@example.test"], _eml("Second"))
    client = capture_app.test_client()
    login(client)
    words = text_of(client.get("/outbox"))
    assert "2 messages, newest first" in words
    assert words.index("Second") < words.index("First")
    opened = client.get(f"/outbox/{newest}")
    assert opened.status_code == 200 and "Second" in text_of(opened)
    frame = client.get(f"/outbox/{newest}/email.html")
    assert frame.headers["Content-Security-Policy"].startswith("sandbox allow-same-origin;")
    assert "<p>Second body</p>" in frame.get_data(as_text=True)
    assert client.get("/outbox/../../etc/passwd").status_code == 404
    assert client.get("/outbox/20240101T000000.000000Z-" + "0" * 32).status_code == 404


def test_outbox_is_only_there_with_the_capture_server(mail_app, admin):
    reconfigure(mail_app, SMTP_CAPTURE=False)
    assert admin.get("/outbox").status_code == 404
    assert 'href="/outbox"' not in admin.get("/").get_data(as_text=True)


# --- API tokens -----------------------------------------------------------------------------


def test_token_is_shown_once_works_and_can_be_revoked(mail_app, admin):
    created = admin.post("/tokens", data={"name": "nightly cron"})
    assert created.status_code == 201
    html = created.get_data(as_text=True)
    plain = html.split('id="new-token" class="token-value" type="text" value="')[1].split('"')[0]
    assert plain.startswith("qr_")
    assert created.headers["Cache-Control"] == "no-store"

    listing = admin.get("/tokens").get_data(as_text=True)
    assert plain not in listing and plain[:10] in listing and "nightly cron" in listing

    api = mail_app.test_client()
    bearer = {"Authorization": f"Bearer {plain}"}
    assert api.get("/scheduled/report-summary", headers=bearer).status_code == 200
    assert "never" not in text_of(admin.get("/tokens")).split("nightly cron")[1][:60]

    with mail_app.app_context():
        token_id = get_session().scalar(select(ApiToken.id))
    revoked = htmx(admin, "POST", f"/tokens/{token_id}/revoke")
    assert "Token “nightly cron” revoked." in text_of(revoked)
    assert api.get("/scheduled/report-summary", headers=bearer).status_code == 401


def test_token_needs_a_name_and_others_tokens_are_out_of_reach(mail_app, admin):
    refused = admin.post("/tokens", data={"name": ""})
    assert refused.status_code == 422
    assert "Give the token a name." in text_of(refused)
    with mail_app.app_context():
        s = get_session()
        other = make_admin(s, email="other@example.test")
        s.add(ApiToken(user_id=other.id, name="theirs", prefix="qr_abc", token_hash="x" * 64))
        s.commit()
        theirs = s.scalar(select(ApiToken.id).where(ApiToken.name == "theirs"))
    assert "theirs" not in admin.get("/tokens").get_data(as_text=True)
    assert admin.post(f"/tokens/{theirs}/revoke").status_code == 404


# --- Display helpers ------------------------------------------------------------------------


def test_times_and_numbers_for_people(mail_app):
    with mail_app.app_context():
        reconfigure(mail_app, DISPLAY_TIMEZONE="Europe/Berlin")
        assert filters.localtime(datetime(2025, 1, 3, 13, 5)) == "3 Jan 2025, 14:05 CET"
        assert filters.localtime(datetime(2025, 7, 3, 13, 5)) == "3 Jul 2025, 15:05 CEST"
        assert filters.localtime(None) == "—"
        reconfigure(mail_app, DISPLAY_TIMEZONE="Not/AZone")
        assert filters.localtime(datetime(2025, 1, 3, 13, 5)) == "3 Jan 2025, 13:05 UTC"
    assert filters.number(1234567) == "1,234,567"
    assert filters.number(12.25) == "12.2" or filters.number(12.25) == "12.3"
    assert filters.percent(100.0) == "100 %" and filters.percent(None) == "—"
    assert filters.duration(45) == "45 s"
    assert filters.duration(200) == "3 min 20 s"
    assert filters.duration(7500) == "2 h 5 min"
    assert filters.month_label("2024-12") == "December 2024"
