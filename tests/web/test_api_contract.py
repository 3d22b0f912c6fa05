"""The JSON API's contract, frozen: every field of every answer, by name and type.

A field added to a dataclass inside the product must not appear in (or vanish from) the
public JSON by accident; the serializers (webapp/web/api/serializers.py) write it field by
field, and this file says what they write. Change both, on purpose, or neither.
"""

from tests.helpers.web import bearer

MONTH = "2024-12"

# A shape: a dict of shapes for an object, [shape] for a list of such, or the type's name.
TOTALS = {"attempts": "int", "questions": "int", "correct": "int", "average_percent": "float"}
REPORT = {
    "user": {
        "id": "int",
        "username": "str",
        "email": "str",
        "full_name": "str",
        "qualification": "str",
    },
    "month_year": "str",
    "month_label": "str",
    "empty": "bool",
    "totals": TOTALS,
    "subjects": [{"subject_id": "int", "name": "str", **TOTALS}],
    "attempts": [
        {
            "score_id": "int",
            "date": "str",
            "subject": "str",
            "chapter": "str",
            "quiz": "str",
            "quiz_id": "int",
            "scored": "int",
            "total": "int",
            "percent": "float",
            "rank": "int",
            "of": "int",
        }
    ],
    "chapters": [{"chapter_id": "int", "name": "str", "subject": "str", **TOTALS}],
    "days_active": "int",
    "previous": {"month_year": "str", "month_label": "str", **TOTALS},
    "change": "null",
    "first_month": "bool",
    "insights": ["str"],
    "recommendations": ["str"],
    # Six months, oldest first; the test data has no quizzes in the first (average null).
    "history": [
        {"month_year": "str", "month_label": "str", "attempts": "int", "average_percent": "null"}
    ],
}
STARTED_ALL = {
    "message": "str",
    "task_id": "str",
    "month_year": "str",
    "status": "str",
    "total": "int",
}
STARTED_ONE = {
    "message": "str",
    "task_id": "str",
    "user_id": "int",
    "month_year": "str",
    "status": "str",
}
DRY_RUN = {
    "month_year": "str",
    "to_send": [{"user_id": "int", "name": "str", "email": "str"}],
    "skipped": [{"user_id": "int", "name": "str", "reason": "str"}],
    "warnings": ["str"],
}
# A start of a month every learner has: no run written, so no task to poll.
NOTHING_TO_SEND = {
    "message": "str",
    "task_id": "null",
    "total": "int",
    "month_year": "str",
    "status": "str",
}
COUNTS = dict.fromkeys(
    ("pending", "sending", "sent", "failed", "skipped", "unknown", "cancelled"), "int"
)
TASK_STATUS = {
    "task_id": "str",
    "state": "str",
    "run_state": "str",
    "current": "int",
    "total": "int",
    "status": "str",
    "counts": COUNTS,
    "pause_reason": "null",
    "attempted": "int",
    "rate_sent_per_second": "float",
    "eta_seconds": "null",
    "result": {
        "message": "str",
        "summary": {
            "total_users": "int",
            "successful": "int",
            "failed": "int",
            "skipped": "int",
            "unknown": "int",
            "success_rate": "float",
        },
        "results": [
            {
                "user_id": "int",
                "username": "str",
                "email_status": "str",
                "success": "bool",
                "error": "null",
            }
        ],
        "month_year": "str",
    },
}
SUMMARY = {
    "message": "str",
    "runs": [
        {
            "task_id": "str",
            "month_year": "str",
            "scope": "str",
            "user_id": "null",
            "state": "str",
            "run_state": "str",
            "total": "int",
            "sent": "int",
            "failed": "int",
            "skipped": "int",
            "unknown": "int",
            "created_at": "str",
            "finished_at": "str",
        }
    ],
    "active_tasks": "int",
    "reserved_tasks": "int",
    "scheduled_tasks": "int",
    "note": "str",
}
ERROR = {"error": "str", "message": "str"}


def shape(value):
    """The shape of a JSON value: lists by their first item, scalars by their type."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return "null" if value is None else type(value).__name__


def call(client, method: str, path: str, token: str, body=None):
    response = bearer(client, method, path, token, json=body)
    return response.status_code, response.get_json()


def start_month(app, world, **body):
    """POST generate-all-monthly-reports with the admin's token: (status, JSON)."""
    path = "/scheduled/generate-all-monthly-reports"
    return call(app.test_client(), "POST", path, world["token"], {"month_year": MONTH, **body})


def test_starting_the_month_and_following_it(mail_app, api_world):
    client, token = mail_app.test_client(), api_world["token"]
    status, body = start_month(mail_app, api_world)
    assert (status, shape(body)) == (202, STARTED_ALL)
    # The test queue runs tasks at once, so the run has finished: the full answer.
    status, done = call(client, "GET", f"/scheduled/task-status/{body['task_id']}", token)
    assert (status, shape(done)) == (200, TASK_STATUS)
    status, summary = call(client, "GET", "/scheduled/report-summary", token)
    assert (status, shape(summary)) == (200, SUMMARY)


def test_a_dry_run(mail_app, api_world):
    # A month without attempts, so that the dry run has a warning to show its shape.
    status, body = start_month(mail_app, api_world, dry_run=True, month_year="2024-03")
    assert (status, shape(body)) == (200, DRY_RUN)


def test_a_start_with_nothing_to_send(mail_app, api_world):
    assert start_month(mail_app, api_world)[0] == 202
    status, body = start_month(mail_app, api_world)
    assert (status, shape(body)) == (200, NOTHING_TO_SEND)


def test_one_learners_report_mailed_and_as_data(mail_app, api_world):
    client, token = mail_app.test_client(), api_world["token"]
    learner = api_world["learner_ids"][0]
    status, body = call(
        client,
        "POST",
        "/scheduled/generate-user-report",
        token,
        {"user_id": learner, "month_year": MONTH},
    )
    assert (status, shape(body)) == (202, STARTED_ONE)
    status, report = call(
        client, "GET", f"/scheduled/report-data?user_id={learner}&month_year={MONTH}", token
    )
    assert (status, shape(report)) == (200, REPORT)


def test_an_error(mail_app, api_world):
    status, body = start_month(mail_app, api_world, month_year="2024-13")
    assert (status, shape(body)) == (400, ERROR)


def test_a_shape_change_would_be_seen():
    assert shape({"a": [1], "b": None, "c": {"d": 1.5}}) == {
        "a": ["int"],
        "b": "null",
        "c": {"d": "float"},
    }
    assert shape({"a": 1, "extra": 2}) != shape({"a": 1})
