"""Every time in the API's JSON names its zone: ISO 8601 in UTC with a Z, never a bare local-
looking time a client would read in its own zone."""

import re
from datetime import datetime
from datetime import timedelta
from datetime import timezone

from tests.helpers.web import bearer
from webapp.web.api.openapi import document
from webapp.web.api.serializers import utc_time

MONTH = "2024-12"
# Anything that looks like a date with a time, wherever it sits in an answer.
LOOKS_LIKE_A_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def times_in(value, path: str = "") -> dict[str, str]:
    """Every time-looking string of a JSON value, by its path ("runs.0.created_at")."""
    if isinstance(value, dict):
        return {
            k: v for key, item in value.items() for k, v in times_in(item, f"{path}.{key}").items()
        }
    if isinstance(value, list):
        return {
            k: v for i, item in enumerate(value) for k, v in times_in(item, f"{path}.{i}").items()
        }
    if isinstance(value, str) and LOOKS_LIKE_A_TIME.match(value):
        return {path.lstrip("."): value}
    return {}


def test_every_time_the_api_answers_ends_with_z(mail_app, api_world):
    client, token = mail_app.test_client(), api_world["token"]
    learner = api_world["learner_ids"][0]
    started = bearer(
        client, "POST", "/scheduled/generate-all-monthly-reports", token, json={"month_year": MONTH}
    ).get_json()
    answers = [
        bearer(client, "GET", path, token).get_json()
        for path in (
            "/scheduled/report-summary",
            f"/scheduled/task-status/{started['task_id']}",
            f"/scheduled/report-data?user_id={learner}&month_year={MONTH}",
        )
    ]
    times = {k: v for answer in answers for k, v in times_in(answer).items()}
    # Not vacuous: the run's two times and the attempt's are among them.
    assert {"runs.0.created_at", "runs.0.finished_at", "attempts.0.date"} <= set(times)
    for where, value in times.items():
        assert value.endswith("Z"), f"{where} = {value!r} has no zone"
        assert datetime.fromisoformat(value).utcoffset().total_seconds() == 0
    # The learner's quiz was on 5 December 2024 at 10:00 UTC (tests/helpers/factories.py).
    assert times["attempts.0.date"] == "2024-12-05T10:00:00Z"


def test_the_document_publishes_times_as_rfc_3339_in_utc(mail_app):
    text = str(document(mail_app))
    assert "without an offset" not in text
    schemas = document(mail_app)["components"]["schemas"]
    run = schemas["Summary"]["properties"]["runs"]["items"]["properties"]
    attempt = schemas["Report"]["properties"]["attempts"]["items"]["properties"]
    for schema in (run["created_at"], run["finished_at"]["anyOf"][0], attempt["date"]):
        assert schema["format"] == "date-time"
        assert re.match(schema["pattern"], "2024-12-05T10:00:00Z")
        assert not re.match(schema["pattern"], "2024-12-05T10:00:00")


def test_a_stored_time_is_written_in_utc_with_its_zone():
    assert utc_time(None) is None
    assert utc_time(datetime(2024, 12, 31, 23, 59, 58)) == "2024-12-31T23:59:58Z"
    assert utc_time("2024-12-05T10:00:00.250000") == "2024-12-05T10:00:00.250000Z"
    berlin_winter = timezone(timedelta(hours=1))
    assert utc_time(datetime(2025, 1, 1, 1, 30, tzinfo=berlin_winter)) == "2025-01-01T00:30:00Z"
