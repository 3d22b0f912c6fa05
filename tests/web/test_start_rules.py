"""Starting a run, in the dashboard and through the API: a month that is not over is refused
in words, a month everyone has writes no run, a dry run warns, the overview shows each
month's standing."""

from sqlalchemy import func
from sqlalchemy import select

from tests.helpers.apps import with_session
from tests.helpers.factories import MONTH
from tests.helpers.factories import make_quiz
from tests.helpers.factories import make_score
from tests.helpers.web import answer_of
from tests.helpers.web import bearer
from tests.helpers.web import htmx
from tests.helpers.web import text_of
from webapp.core.models import AuditEntry
from webapp.core.models import Delivery
from webapp.core.models import ReportRun
from webapp.core.models import User
from webapp.core.months import Month

ALL = "/scheduled/generate-all-monthly-reports"


def start(client, month=MONTH, **extra):
    """Start an all-learner run through the form, answering its question."""
    question = client.post("/runs", data={"month": month, "scope": "all", "start": "1", **extra})
    if 'name="confirmed"' not in question.get_data(as_text=True):
        return question  # refused, or nothing to send: nothing was asked
    return client.post("/runs", data=answer_of(question))


def written(app) -> tuple[int, int, int]:
    """Runs, deliveries and audit entries in the app's database."""
    return with_session(
        app,
        lambda s: tuple(
            s.scalar(select(func.count()).select_from(table))
            for table in (ReportRun, Delivery, AuditEntry)
        ),
    )


def with_attempts_this_month(app, world) -> None:
    def add(s):
        quiz = make_quiz(s)
        for uid in world["learner_ids"]:
            make_score(s, s.get(User, uid), quiz, Month.current().start, 5, 10)
        s.commit()

    with_session(app, add)


# --- Dashboard ------------------------------------------------------------------------------


def test_the_current_month_is_refused_on_the_form_and_nothing_is_written(
    mail_app, admin, smtp_server
):
    current = Month.current()
    before = written(mail_app)
    for scope in ({"scope": "all"}, {"scope": "one", "learner": "Priya Raman"}):
        response = start(admin, str(current), **scope)
        assert response.status_code == 422
        words = text_of(response)
        assert f"{current.label} is not over yet: its reports would miss the attempts" in words
        assert f"pick {Month.last_full().label} or an earlier month" in words
    fragment = htmx(admin, "POST", "/runs", data={"month": str(current), "start": "1"})
    assert fragment.status_code == 422
    assert fragment.get_data(as_text=True).lstrip().startswith('<section id="start-run"')
    assert 'aria-invalid="true"' in fragment.get_data(as_text=True)
    assert written(mail_app) == before
    assert smtp_server.messages == []


def test_a_dry_run_of_the_current_month_is_a_preview_that_says_so(mail_app, admin, world):
    with_attempts_this_month(mail_app, world)
    current = Month.current()
    response = admin.post("/runs", data={"month": str(current), "dry_run": "1"})
    assert response.status_code == 200
    words = text_of(response)
    assert f"{current.label} is not over yet: this dry run is only a preview." in words
    assert "3 would be mailed" in words
    assert written(mail_app)[0] == 0


def test_repeating_a_finished_month_says_nothing_to_send_and_writes_no_run(
    mail_app, admin, smtp_server
):
    assert start(admin).status_code == 303
    smtp_server.wait_for(3)
    before = written(mail_app)
    response = start(admin)
    assert response.status_code == 200
    words = text_of(response)
    # Nadia has no email address: she is counted apart, not as having her report.
    assert (
        "Nothing to send for December 2024: 3 learners already have a report; "
        "1 skipped: no email address on file. No run was started." in words
    )
    fragment = htmx(admin, "POST", "/runs", data={"month": MONTH, "start": "1"})
    assert fragment.status_code == 200
    assert 'id="nothing-to-send"' in fragment.get_data(as_text=True)
    assert written(mail_app) == before
    assert len(smtp_server.messages) == 3


def test_a_dry_run_of_a_month_without_attempts_warns_before_anyone_is_mailed(
    mail_app, admin, smtp_server
):
    response = admin.post("/runs", data={"month": "2024-03", "dry_run": "1"})
    assert response.status_code == 200
    assert (
        "No learner has an attempt in March 2024: every report would say there was no activity."
        in text_of(response)
    )
    plain = text_of(admin.post("/runs", data={"month": MONTH, "dry_run": "1"}))
    assert "No learner has an attempt" not in plain and "is not over yet" not in plain
    assert smtp_server.messages == []


def test_the_overview_shows_each_months_standing(mail_app, admin, smtp_server):
    last = Month.last_full()
    page = text_of(admin.get("/"))
    assert f"{last.label}: no report sent yet" in page
    start(admin)
    smtp_server.wait_for(3)
    page = text_of(admin.get("/"))
    # December 2024 is long past the recent months; the last full month still shows.
    assert "December 2024: 3 of 3" not in page
    monthly = start(admin, str(last))
    assert monthly.status_code == 303
    smtp_server.wait_for(6)
    page = text_of(admin.get("/"))
    assert f"{last.label}: 3 of 3 delivered, 0 failed" in page
    # The runs table polls alone: the standing is not recomputed for it.
    assert "Reports at a glance" not in text_of(htmx(admin, "GET", "/"))


# --- API ------------------------------------------------------------------------------------


def test_api_refuses_a_start_of_the_current_month_in_words(mail_app, api_world):
    client, token = mail_app.test_client(), api_world["token"]
    current = str(Month.current())
    before = written(mail_app)
    r = bearer(client, "POST", ALL, token, json={"month_year": current})
    assert r.status_code == 400
    assert r.get_json()["message"].startswith(f"{Month.current().label} is not over yet")
    one = {"month_year": current, "user_id": api_world["learner_ids"][0]}
    r = bearer(client, "POST", "/scheduled/generate-user-report", token, json=one)
    assert r.status_code == 400 and "is not over yet" in r.get_json()["message"]
    assert written(mail_app) == before


def test_api_dry_run_carries_its_warnings(mail_app, api_world):
    client, token = mail_app.test_client(), api_world["token"]
    r = bearer(client, "POST", ALL, token, json={"month_year": "2024-03", "dry_run": True})
    assert r.status_code == 200
    assert r.get_json()["warnings"] == [
        "No learner has an attempt in March 2024: every report would say there was no activity."
    ]
    r = bearer(client, "POST", ALL, token, json={"month_year": MONTH, "dry_run": True})
    assert r.get_json()["warnings"] == []
    current = Month.current()
    r = bearer(client, "POST", ALL, token, json={"month_year": str(current), "dry_run": True})
    assert r.status_code == 200
    assert r.get_json()["warnings"][0].startswith(f"{current.label} is not over yet")


def test_api_repeat_of_a_finished_month_answers_total_0_and_no_task(
    mail_app, api_world, smtp_server
):
    client, token = mail_app.test_client(), api_world["token"]
    first = bearer(client, "POST", ALL, token, json={"month_year": MONTH})
    assert first.status_code == 202
    before = written(mail_app)
    again = bearer(client, "POST", ALL, token, json={"month_year": MONTH})
    assert again.status_code == 200
    assert again.get_json() == {
        "message": "Nothing to send for December 2024: 3 learners already have a report; "
        "1 skipped: no email address on file.",
        "task_id": None,
        "total": 0,
        "month_year": MONTH,
        "status": "SUCCESS",
    }
    assert written(mail_app) == before
    assert len(smtp_server.messages) == 3


def test_a_month_every_learner_has_reads_all_of_them(mail_app, api_world):
    # Without the learner who has no address, everyone has their report.
    def drop_nadia(s):
        s.delete(s.get(User, api_world["no_email_id"]))
        s.commit()

    client, token = mail_app.test_client(), api_world["token"]
    bearer(client, "POST", ALL, token, json={"month_year": MONTH})
    with_session(mail_app, drop_nadia)
    again = bearer(client, "POST", ALL, token, json={"month_year": MONTH})
    assert again.get_json()["message"] == (
        "Nothing to send: all 3 learners already have their December 2024 report."
    )


def test_a_learners_send_of_the_current_month_is_refused_in_words(mail_app, admin, world):
    uid = world["learner_ids"][0]
    refused = admin.post(f"/learners/{uid}/send", data={"month": str(Month.current())})
    assert refused.status_code == 400
    assert f"{Month.current().label} is not over yet" in text_of(refused)
    assert written(mail_app)[0] == 0
