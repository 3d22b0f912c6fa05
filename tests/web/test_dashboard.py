"""Overview and run page: start, dry run, progress that stops polling, actions, deliveries."""

import pytest
from sqlalchemy import func
from sqlalchemy import select

from tasks import huey
from tests.helpers.apps import reconfigure
from tests.helpers.apps import with_session
from tests.helpers.database import statements_run
from tests.helpers.factories import MONTH
from tests.helpers.factories import make_bulk_run
from tests.helpers.factories import make_user
from tests.helpers.smtp import FaultPlan
from tests.helpers.waiting import stays_true
from tests.helpers.web import answer_of
from tests.helpers.web import confirmed
from tests.helpers.web import htmx
from tests.helpers.web import text_of
from webapp.core import launch
from webapp.core import progress
from webapp.core.models import Delivery
from webapp.core.models import ReportRun
from webapp.core.months import Month
from webapp.web.services import get_session


def start(client, month=MONTH, **extra):
    """Start an all-learner run through the form, answering its question."""
    data = {"month": month, "scope": "all", "start": "1", **extra}
    question = client.post("/runs", data=data)
    if "confirmed" not in question.get_data(as_text=True):
        return question  # refused before anything is asked
    return client.post("/runs", data=answer_of(question))


def open_run(app, month=MONTH) -> int:
    """An all-learner run that is queued but not handed to a worker (it stays open)."""
    with app.app_context():
        s = get_session()
        return launch.start_all(s, Month.parse(month), mail_from="r@quiz.example").id


# --- Overview and starting ------------------------------------------------------------------


def test_overview_defaults_to_the_last_full_month(admin):
    html = admin.get("/").get_data(as_text=True)
    assert f'value="{Month.last_full()}"' in html
    assert f'max="{Month.current()}"' in html
    assert "No runs yet." in html


def test_future_month_is_refused_with_a_message(admin, smtp_server):
    response = start(admin, str(Month.current().next()))
    assert response.status_code == 422
    assert "is in the future: there is nothing to report yet" in text_of(response)
    assert smtp_server.messages == []


def test_month_that_is_not_a_month_is_refused(admin):
    response = start(admin, "December")
    assert response.status_code == 422
    assert "Enter a month as YYYY-MM" in text_of(response)


def test_dry_run_shows_who_would_be_mailed_and_skipped_and_sends_nothing(
    mail_app, admin, smtp_server
):
    response = admin.post("/runs", data={"month": MONTH, "scope": "all", "dry_run": "1"})
    assert response.status_code == 200
    words = text_of(response)
    assert "3 would be mailed, 1 would be skipped. Nothing has been sent." in words
    assert "Nadia Nomail — no email address on file" in words
    assert "Priya Raman" in words
    assert with_session(mail_app, lambda s: s.scalar(select(func.count(ReportRun.id)))) == 0
    assert smtp_server.messages == []


def test_dry_run_for_one_learner(admin, world):
    response = htmx(
        admin,
        "POST",
        "/runs",
        data={"month": MONTH, "scope": "one", "learner": "Priya Raman", "dry_run": "1"},
    )
    assert response.status_code == 200
    assert "<html" not in response.get_data(as_text=True)
    assert "Dry run for December 2024: Priya Raman" in text_of(response)
    assert "1 would be mailed, 0 would be skipped" in text_of(response)


def test_start_mails_every_learner_once_and_lists_the_run(mail_app, admin, smtp_server, world):
    response = start(admin)
    assert response.status_code == 303
    assert response.headers["Location"] == "/runs/1"
    assert len(smtp_server.wait_for(3)) == 3
    # A second click on Start: the month is sent, so nothing is mailed again.
    start(admin)
    stays_true(lambda: len(smtp_server.messages) == 3, seconds=0.2)
    assert len(smtp_server.messages) == 3

    words = text_of(admin.get("/"))
    assert "December 2024 run #1 All learners ✓ Done 3 0 0 0 3 100 % of 3 attempted Ada" in words


def test_start_by_htmx_redirects_the_browser_to_the_run(admin):
    data = {"month": MONTH, "scope": "all", "start": "1"}
    response = confirmed(admin, "/runs", data, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == "/runs/1"


def test_start_while_a_run_is_going_is_a_409_in_words(mail_app, admin):
    run_id = open_run(mail_app)
    response = start(admin)
    assert response.status_code == 409
    words = text_of(response)
    assert "A run for December 2024 is still going." in words
    assert f"Open run #{run_id}" in words

    by_htmx = htmx(admin, "POST", "/runs", data={"month": MONTH, "scope": "all", "start": "1"})
    assert by_htmx.status_code == 409
    assert by_htmx.headers["HX-Retarget"] == "#notices"
    assert "still going" in text_of(by_htmx)


def test_start_for_one_learner_picked_by_email(mail_app, admin, smtp_server, world):
    response = confirmed(
        admin,
        "/runs",
        {"month": MONTH, "scope": "one", "learner": world["emails"][1], "start": "1"},
    )
    assert response.status_code == 303
    [message] = smtp_server.wait_for(1)
    assert message.rcpt_tos == [world["emails"][1]]


def test_start_for_one_learner_picked_from_the_suggestions(admin, smtp_server, world):
    suggestion = f"Tomás Ortega <{world['emails'][1]}>"
    response = confirmed(
        admin, "/runs", {"month": MONTH, "scope": "one", "learner": suggestion, "start": "1"}
    )
    assert response.status_code == 303
    assert smtp_server.wait_for(1)[0].rcpt_tos == [world["emails"][1]]


@pytest.mark.parametrize(
    "learner,words",
    [("a", "Several learners match"), ("zebra", "No learner has that name or email."), ("", "")],
)
def test_one_learner_must_be_found(admin, learner, words):
    response = admin.post(
        "/runs", data={"month": MONTH, "scope": "one", "learner": learner, "start": "1"}
    )
    assert response.status_code == 422
    assert (words or "Type the learner's name or email address.") in text_of(response)


def test_overview_polls_only_while_a_run_is_open(mail_app, admin):
    assert "hx-trigger" not in htmx(admin, "GET", "/").get_data(as_text=True)
    open_run(mail_app)
    fragment = htmx(admin, "GET", "/")
    html = fragment.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="recent-runs"')
    assert 'hx-trigger="every 2s"' in html
    assert "HX-Request" in fragment.headers["Vary"]


# --- The run page and its progress ----------------------------------------------------------


def test_run_page_shows_progress_counts_and_deliveries(admin, smtp_server):
    start(admin)
    smtp_server.wait_for(3)
    page = admin.get("/runs/1")
    assert page.status_code == 200
    words = text_of(page)
    assert "December 2024 run #1" in words
    assert "Finished: 3 sent, 0 failed, 0 skipped." in words
    assert "3 sent — 3 of 3 decided" in words
    assert "Success: 100 % (3 sent of 3 attempted)." in words
    assert "Priya Raman" in words and "Tomás Ortega" in words
    html = page.get_data(as_text=True)
    assert 'aria-valuemax="3" aria-valuenow="3" aria-valuetext="3 of 3 decided"' in html
    assert '<rect class="seg part-sent" x="0.0" y="0" width="1000.0" height="10"/>' in html


def test_finished_run_fragment_has_no_trigger_so_the_poll_stops(admin, smtp_server):
    start(admin)
    smtp_server.wait_for(3)
    fragment = htmx(admin, "GET", "/runs/1/progress", query_string={"seen": "0:running"})
    html = fragment.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="run-progress"')
    assert "hx-trigger" not in html and "hx-get" not in html
    assert 'data-state="done"' in html
    # The counts moved since the browser last saw them: the deliveries list reloads once.
    assert fragment.headers["HX-Trigger"] == "deliveries-changed"


def test_open_run_fragment_polls_every_second(mail_app, admin):
    run_id = open_run(mail_app)
    fragment = htmx(admin, "GET", f"/runs/{run_id}/progress", query_string={"seen": "0:queued"})
    html = fragment.get_data(as_text=True)
    assert f'hx-get="/runs/{run_id}/progress" hx-trigger="every 1s"' in html
    assert "HX-Trigger" not in fragment.headers  # nothing changed since the last poll
    assert "Waiting for a worker" in text_of(fragment)


def test_progress_url_without_htmx_is_the_run_page(admin, mail_app):
    run_id = open_run(mail_app)
    response = admin.get(f"/runs/{run_id}/progress")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/runs/{run_id}"


def test_unknown_run_is_a_404_page_in_words(admin):
    response = admin.get("/runs/999")
    assert response.status_code == 404
    assert "There is no run #999." in text_of(response)


def test_deliveries_are_paginated_and_filtered_by_state(mail_app, admin):
    run_id = with_session(mail_app, lambda s: make_bulk_run(s, 120, failed_every=10))
    first = text_of(admin.get(f"/runs/{run_id}"))
    assert "120 reports" in first and "Page 1 of 3" in first
    html = admin.get(f"/runs/{run_id}?page=3").get_data(as_text=True)
    assert html.count('<tr id="delivery-') == 20

    failed = htmx(admin, "GET", f"/runs/{run_id}?state=failed")
    fragment = failed.get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="deliveries"')
    assert fragment.count('<tr id="delivery-') == 12
    assert "mailbox unavailable (550 5.1.1 no such user)" in fragment
    assert "12 reports failed" in text_of(failed)
    # Out-of-range pages and unknown states fall back to something sensible.
    assert admin.get(f"/runs/{run_id}?page=99&state=bogus").status_code == 200


def test_a_run_of_ten_thousand_pages_with_a_fixed_handful_of_statements(mail_app, admin):
    run_id = with_session(mail_app, lambda s: make_bulk_run(s, 10_000, failed_every=7))
    admin.get(f"/runs/{run_id}")  # warm up
    # Speed itself is for benchmarks; what the test pins is the query shape.
    with statements_run(mail_app.extensions["runtime"].engine) as statements:
        page = admin.get(f"/runs/{run_id}?state=failed&page=20")
    assert page.status_code == 200
    assert "Page 20 of 29" in text_of(page)
    # A fixed handful, not one per learner; four are the charts' (the run's states in its
    # deliveries and records, the classes of its failures, its sends over time).
    assert len(statements) <= 12
    # Unfiltered, the run's snapshot gives the list its total: no count of the joined rows.
    with statements_run(mail_app.extensions["runtime"].engine) as statements:
        page = admin.get(f"/runs/{run_id}?page=20")
    assert "Page 20 of 200" in text_of(page)
    assert not [s for s in statements if "count(" in s.lower() and "JOIN user" in s], statements


# --- Actions --------------------------------------------------------------------------------


def test_cancel_stops_the_run_and_the_fragment_stops_polling(mail_app, admin, smtp_server):
    run_id = open_run(mail_app)
    response = confirmed(admin, f"/runs/{run_id}/cancel", headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'data-state="cancelled"' in html and "hx-trigger" not in html
    assert "Run cancelled: 3 reports will not be sent." in text_of(response)
    states = with_session(
        mail_app, lambda s: set(s.scalars(select(Delivery.state).where(Delivery.run_id == run_id)))
    )
    assert states == {"cancelled"}
    assert smtp_server.messages == []


def test_cancel_without_javascript_redirects_with_a_message(mail_app, admin):
    run_id = open_run(mail_app)
    response = confirmed(admin, f"/runs/{run_id}/cancel")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/runs/{run_id}"
    assert "Run cancelled" in text_of(admin.get(f"/runs/{run_id}"))


def test_pause_then_resume_sends_the_rest(mail_app, admin, smtp_server):
    run_id = open_run(mail_app)
    paused = htmx(admin, "POST", f"/runs/{run_id}/pause")
    assert 'data-state="paused"' in paused.get_data(as_text=True)
    # Nothing is in flight: the card asks again only slowly, in case it is resumed elsewhere.
    assert 'hx-trigger="every 5s"' in paused.get_data(as_text=True)
    resumed = admin.post(f"/runs/{run_id}/resume")
    assert resumed.status_code == 303
    assert len(smtp_server.wait_for(3)) == 3
    assert with_session(mail_app, lambda s: s.get(ReportRun, run_id).state) == "done"


def test_action_that_does_not_apply_is_a_409_in_words(admin, smtp_server):
    start(admin)
    smtp_server.wait_for(3)
    response = admin.post("/runs/1/resume")
    assert response.status_code == 409
    assert "This run is done; that action does not apply." in text_of(response)
    by_htmx = htmx(admin, "POST", "/runs/1/cancel")
    assert by_htmx.status_code == 409
    assert "This run is done" in text_of(by_htmx)


def test_retry_failed_sends_the_failed_report_once_fixed(mail_app, admin, smtp_server, world):
    bad = world["emails"][0]
    # A refusal that is not a hard bounce: a 5.1.1 would put the learner on the suppression
    # list, and a retry would skip them (tests/web/test_suppression.py).
    smtp_server.plan = FaultPlan(rcpt={bad: "550 5.7.1 Refused by policy"})
    start(admin)
    smtp_server.wait_for(2)
    page = text_of(admin.get("/runs/1?state=failed"))
    assert "mailbox unavailable (550 5.7.1 Refused by policy)" in page
    assert "Retry failed (1)" in page

    smtp_server.plan = FaultPlan()
    response = confirmed(admin, "/runs/1/retry-failed", headers={"HX-Request": "true"})
    assert "Retrying 1 failed report." in text_of(response)
    messages = smtp_server.wait_for(3)
    assert [m.rcpt_tos for m in messages].count([bad]) == 1
    assert with_session(mail_app, lambda s: s.get(ReportRun, 1).state) == "done"


def test_resend_sends_exactly_one_more_message(mail_app, admin, smtp_server, world):
    start(admin)
    smtp_server.wait_for(3)
    delivery_id = with_session(
        mail_app,
        lambda s: s.scalar(select(Delivery.id).where(Delivery.user_id == world["learner_ids"][0])),
    )
    response = htmx(
        admin, "POST", f"/deliveries/{delivery_id}/resend", data={"next": "/runs/1?page=1"}
    )
    assert response.status_code == 200
    row = response.get_data(as_text=True)
    assert row.lstrip().startswith(f'<tr id="delivery-{delivery_id}">')
    assert "Resending to Priya Raman as run #2." in text_of(response)
    messages = smtp_server.wait_for(4)
    stays_true(lambda: len(smtp_server.messages) == 4, seconds=0.2)
    assert len(smtp_server.messages) == 4
    assert messages[-1].rcpt_tos == [world["emails"][0]]


def test_double_resend_while_the_first_is_queued_sends_once(mail_app, admin, world):
    start(admin)
    huey.immediate = False  # the first resend waits in the queue, as with a busy worker
    try:
        delivery_id = with_session(mail_app, lambda s: s.scalar(select(Delivery.id).limit(1)))
        first = admin.post(f"/deliveries/{delivery_id}/resend")
        second = admin.post(f"/deliveries/{delivery_id}/resend")
    finally:
        huey.flush()
        huey.immediate = True
    assert first.status_code == 303
    assert second.status_code == 409
    assert "is being sent right now" in text_of(second)
    count = with_session(mail_app, lambda s: s.scalar(select(func.count(ReportRun.id))))
    assert count == 2


def test_resend_without_javascript_goes_back_to_the_list(admin, smtp_server):
    start(admin)
    smtp_server.wait_for(3)
    response = admin.post("/deliveries/1/resend", data={"next": "/runs/1?state=sent"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/runs/1?state=sent"
    evil = admin.post("/deliveries/2/resend", data={"next": "//evil.example"})
    assert evil.headers["Location"] == "/runs/1"


def test_names_are_escaped_everywhere(mail_app, admin):
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    with mail_app.app_context():
        s = get_session()
        user = make_user(s, full_name=evil, username="evil")
        s.commit()
        uid = user.id
    run_id = open_run(mail_app)
    pages = [
        admin.get(f"/runs/{run_id}"),
        admin.get("/learners?q=evil"),
        admin.get(f"/learners/{uid}"),
        admin.post("/runs", data={"month": MONTH, "scope": "all", "dry_run": "1"}),
        admin.get(f"/learners/{uid}/preview/{MONTH}"),
    ]
    for page in pages:
        html = page.get_data(as_text=True)
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert(" in html


def test_server_error_is_a_page_in_words(mail_app, admin, monkeypatch):
    def boom(*_a, **_k):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(progress, "recent_runs", boom)
    response = admin.get("/")
    assert response.status_code == 500
    words = text_of(response)
    assert "Something went wrong on our side" in words
    assert "secret internals" not in words and "Traceback" not in words


def test_times_are_local_with_the_zone_named(mail_app, admin, smtp_server):
    reconfigure(mail_app, DISPLAY_TIMEZONE="America/New_York")
    start(admin)
    smtp_server.wait_for(3)
    words = text_of(admin.get("/"))
    assert " EST" in words or " EDT" in words
    assert "Times are shown in America/New_York." in words
