"""Answers that carry a learner's data say Cache-Control: no-store, so no browser, proxy or
disk cache keeps a copy: every /scheduled/ answer (successes and errors) and every page."""

from tests.helpers.factories import MONTH
from tests.helpers.web import bearer
from tests.helpers.web import login


def test_every_api_answer_is_no_store(mail_app, api_world):
    client, token = mail_app.test_client(), api_world["token"]
    data = f"/scheduled/report-data?user_id={api_world['learner_ids'][0]}&month_year={MONTH}"
    start = "/scheduled/generate-all-monthly-reports"
    started = bearer(client, "POST", start, token, json={"month_year": MONTH})
    assert started.status_code == 202
    answers = [
        started,
        bearer(client, "POST", start, token, json={"month_year": MONTH, "dry_run": True}),
        bearer(client, "GET", f"/scheduled/task-status/{started.get_json()['task_id']}", token),
        bearer(client, "GET", "/scheduled/report-summary", token),
        bearer(client, "GET", data, token),
        bearer(client, "GET", "/scheduled/report-data?user_id=x", token),  # 400
        bearer(client, "GET", "/scheduled/task-status/nope", token),  # 404
        client.get("/scheduled/report-summary"),  # 401
    ]
    assert [r.status_code for r in answers] == [202, 200, 200, 200, 200, 400, 404, 401]
    for response in answers:
        assert response.headers["Cache-Control"] == "no-store", response.request.path
    assert "priya@example.test" in answers[4].get_data(as_text=True)


def test_pages_with_a_learners_email_are_no_store(admin, world):
    learner = world["learner_ids"][0]
    for path in (
        f"/learners/{learner}",
        f"/learners/{learner}/preview/{MONTH}",
        f"/learners/{learner}/preview/{MONTH}/email.html",
        "/learners?q=priya",
    ):
        response = admin.get(path)
        assert response.status_code == 200, path
        assert response.headers["Cache-Control"] == "no-store", path


def test_outbox_pages_are_no_store(capture_app):
    client = capture_app.test_client()
    login(client)
    response = client.get("/outbox")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
