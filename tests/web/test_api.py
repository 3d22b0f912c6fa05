"""The /scheduled JSON API: auth, validation, runs end to end with an in-process queue."""

import pytest
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update

from tests.helpers.factories import MONTH
from tests.helpers.web import bearer
from webapp.core.models import Delivery
from webapp.core.models import ReportRun
from webapp.web.api.views import NOT_STAFF
from webapp.web.services import get_session


def post_all(client, api_world, **kw):
    """POST to generate-all-monthly-reports with the admin's token."""
    return bearer(
        client, "POST", "/scheduled/generate-all-monthly-reports", api_world["token"], **kw
    )


def start_month(client, api_world, **extra):
    """POST the December 2024 run with the admin's token."""
    return post_all(client, api_world, json={"month_year": MONTH, **extra})


def count_runs(app) -> int:
    """How many runs the app's database has."""
    with app.app_context():
        return get_session().scalar(select(func.count()).select_from(ReportRun))


def test_no_token_is_401_with_bearer_challenge(mail_app, api_world):
    client = mail_app.test_client()
    r = client.get("/scheduled/report-summary")
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert "token" in r.get_json()["message"]


def test_bad_token_is_401_and_learner_token_is_403(mail_app, api_world):
    client = mail_app.test_client()
    r = bearer(client, "GET", "/scheduled/report-summary", "qr_not-a-token")
    assert r.status_code == 401
    assert "invalid_token" in r.headers["WWW-Authenticate"]
    r = bearer(client, "GET", "/scheduled/report-summary", api_world["learner_token"])
    assert r.status_code == 403
    assert r.get_json()["message"] == NOT_STAFF


def test_run_for_all_learners_mails_each_once(mail_app, api_world, smtp_server):
    client = mail_app.test_client()
    r = start_month(client, api_world)
    assert r.status_code == 202, r.get_json()
    body = r.get_json()
    assert body["status"] == "PENDING" and body["month_year"] == MONTH
    assert set(body) >= {"message", "task_id", "month_year", "status"}

    status = bearer(client, "GET", f"/scheduled/task-status/{body['task_id']}", api_world["token"])
    data = status.get_json()
    assert data["state"] == "SUCCESS", data
    summary = data["result"]["summary"]
    # Three learners with an address were mailed; the one without is skipped, not failed.
    assert summary == {
        "total_users": 3,
        "successful": 3,
        "failed": 0,
        "skipped": 0,
        "unknown": 0,
        "success_rate": 100.0,
    }
    assert len(smtp_server.messages) == 3
    assert sorted(r["user_id"] for r in data["result"]["results"]) == api_world["learner_ids"]
    # Repeated polls give the same answer.
    again = bearer(client, "GET", f"/scheduled/task-status/{body['task_id']}", api_world["token"])
    assert again.get_json() == data

    # Starting the finished month again mails nobody a second time, and writes no run.
    r2 = post_all(client, api_world, json={"month_year": MONTH})
    assert r2.status_code == 200
    assert r2.get_json()["total"] == 0 and r2.get_json()["task_id"] is None
    assert count_runs(mail_app) == 1
    assert len(smtp_server.messages) == 3


def test_second_start_while_open_is_409_with_task_id(mail_app, api_world):
    with mail_app.app_context():
        s = get_session()
        s.add(
            ReportRun(
                task_id="6f1c2e7a-0000-4000-8000-000000000001",
                month=MONTH,
                scope="all",
                state="running",
            )
        )
        s.commit()
    client = mail_app.test_client()
    r = start_month(client, api_world)
    assert r.status_code == 409
    assert r.get_json()["task_id"] == "6f1c2e7a-0000-4000-8000-000000000001"


def test_user_report_resends_explicitly(mail_app, api_world, smtp_server):
    client = mail_app.test_client()
    uid = api_world["learner_ids"][1]
    for expected in (1, 2):
        assert send_user_report(client, api_world, uid)["user_id"] == uid
        assert len(smtp_server.messages) == expected
    with mail_app.app_context():
        d = get_session().scalar(select(Delivery).where(Delivery.user_id == uid))
        assert d.state == "sent" and d.sent_count == 2


def send_user_report(client, api_world, uid) -> dict:
    """POST generate-user-report for one learner of December 2024 (a Send, then a Resend);
    the 202's JSON."""
    r = bearer(
        client,
        "POST",
        "/scheduled/generate-user-report",
        api_world["token"],
        json={"user_id": uid, "month_year": MONTH},
    )
    assert r.status_code == 202, r.get_json()
    return r.get_json()


def test_a_resend_of_a_sent_report_is_mailed_with_a_new_message_id(
    mail_app, api_world, smtp_server
):
    # A receiver such as Gmail drops a Message-ID it has seen: the same one would not arrive.
    client = mail_app.test_client()
    uid = api_world["learner_ids"][1]
    send_user_report(client, api_world, uid)
    send_user_report(client, api_world, uid)
    first, again = (m.email["Message-ID"] for m in smtp_server.wait_for(2))
    assert first != again
    with mail_app.app_context():
        d = get_session().scalar(select(Delivery).where(Delivery.user_id == uid))
        assert d.state == "sent" and d.message_id == again


def test_a_resend_of_an_unknown_delivery_keeps_its_message_id(mail_app, api_world, smtp_server):
    # The first copy may have arrived: the same Message-ID lets the receiver drop this one.
    client = mail_app.test_client()
    uid = api_world["learner_ids"][1]
    send_user_report(client, api_world, uid)
    with mail_app.app_context():
        s = get_session()
        s.execute(update(Delivery).where(Delivery.user_id == uid).values(state="unknown"))
        s.commit()
    send_user_report(client, api_world, uid)
    first, again = (m.email["Message-ID"] for m in smtp_server.wait_for(2))
    assert first == again


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"month_year": "2024-13"}, 400, "no month 13"),
        ({"month_year": "24-12"}, 400, "YYYY-MM"),
        ({"month_year": "2024-1"}, 400, "YYYY-MM"),
        ({"month_year": ""}, 400, "required"),
        ({}, 400, "required"),
        ({"month_year": 202412}, 400, "string"),
        ({"month_year": "2999-01"}, 400, "future"),
        ([], 400, "object"),
        ({"month_year": "2024-12", "dry_run": "true"}, 400, "dry_run must be true or false"),
    ],
)
def test_generate_all_rejects_bad_month(mail_app, api_world, body, status, words):
    r = post_all(mail_app.test_client(), api_world, json=body)
    assert r.status_code == status
    assert words in r.get_json()["message"]
    assert count_runs(mail_app) == 0


def test_non_json_bodies_are_refused(mail_app, api_world):
    client = mail_app.test_client()
    r = post_all(
        client,
        api_world,
        data="month_year=2024-12",
        content_type="application/x-www-form-urlencoded",
    )
    assert r.status_code == 415
    r = post_all(client, api_world, data="{not json", content_type="application/json")
    assert r.status_code == 400
    assert "not valid JSON" in r.get_json()["message"]
    assert count_runs(mail_app) == 0


@pytest.mark.parametrize(
    ("user_id", "status"),
    [
        (None, 400),
        ("abc", 400),
        (1.5, 400),
        (-1, 400),
        (0, 400),
        (True, 400),
        (2**70, 400),
        (999999, 404),
    ],
)
def test_generate_user_report_rejects_bad_user_id(mail_app, api_world, user_id, status):
    body = {"month_year": MONTH}
    if user_id is not None:
        body["user_id"] = user_id
    r = bearer(
        mail_app.test_client(),
        "POST",
        "/scheduled/generate-user-report",
        api_world["token"],
        json=body,
    )
    assert r.status_code == status
    assert r.get_json()["message"]
    assert count_runs(mail_app) == 0


def test_learner_without_email_is_refused(mail_app, api_world):
    r = bearer(
        mail_app.test_client(),
        "POST",
        "/scheduled/generate-user-report",
        api_world["token"],
        json={"user_id": api_world["no_email_id"], "month_year": MONTH},
    )
    assert r.status_code == 400
    assert "no email" in r.get_json()["message"]
    assert count_runs(mail_app) == 0


def test_task_status_unknown_is_404(mail_app, api_world):
    client = mail_app.test_client()
    for task_id in ("nope", "6f1c2e7a-0000-4000-8000-00000000ffff"):
        r = bearer(client, "GET", f"/scheduled/task-status/{task_id}", api_world["token"])
        assert r.status_code == 404
        assert "No task" in r.get_json()["message"]


def test_report_summary_lists_runs_and_queue_counts(mail_app, api_world):
    client = mail_app.test_client()
    post_all(client, api_world, json={"month_year": MONTH})
    data = bearer(client, "GET", "/scheduled/report-summary", api_world["token"]).get_json()
    assert isinstance(data["active_tasks"], int) and isinstance(data["reserved_tasks"], int)
    assert data["runs"][0]["month_year"] == MONTH
    assert data["runs"][0]["sent"] == 3 and data["runs"][0]["state"] == "SUCCESS"


def test_report_data_matches_the_report(mail_app, api_world):
    uid = api_world["learner_ids"][2]
    r = bearer(
        mail_app.test_client(),
        "GET",
        f"/scheduled/report-data?user_id={uid}&month_year={MONTH}",
        api_world["token"],
    )
    assert r.status_code == 200
    data = r.get_json()
    # 8 of 10 on the one quiz, the best of the three learners (6, 7, 8 of 10).
    assert data["totals"]["correct"] == 8 and data["totals"]["questions"] == 10
    assert data["attempts"][0]["rank"] == 1 and data["attempts"][0]["of"] == 3


def test_dry_run_lists_who_would_be_mailed(mail_app, api_world, smtp_server):
    r = post_all(mail_app.test_client(), api_world, json={"month_year": MONTH, "dry_run": True})
    assert r.status_code == 200
    data = r.get_json()
    assert [x["user_id"] for x in data["to_send"]] == api_world["learner_ids"]
    assert data["skipped"][0]["reason"] == "no email address on file"
    assert count_runs(mail_app) == 0 and smtp_server.messages == []


def test_an_oversized_body_is_refused_in_words(mail_app, api_world):
    r = post_all(
        mail_app.test_client(),
        api_world,
        data=b"{" + b" " * (2 * 1024 * 1024) + b"}",
        content_type="application/json",
    )
    assert r.status_code == 413
    assert r.get_json()["message"]
    assert count_runs(mail_app) == 0
