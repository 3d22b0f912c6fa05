"""GET /scheduled/openapi.json: the API's OpenAPI 3.1 document, built from the code.

The paths, methods and summaries come from the app's URL rules and the views' docstrings; the
schemas from schemas.py; what each operation reads and answers from OPERATIONS below. A route
of the API missing here fails tests/web/test_api_openapi.py; an answer the document does not
allow fails tests/web/test_api_schemathesis.py.

The document needs no token: it holds no data, only what README.md says too, and a client
reads it before it has a token (it says how to send one).
"""

import inspect
import re

from flask import Blueprint
from flask import Flask
from flask import current_app
from flask import jsonify

from webapp.web.api import schemas
from webapp.web.api.schemas import ref

bp = Blueprint("api_docs", __name__, url_prefix="/scheduled")

_PATH_ARGUMENT = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def _answer(description: str, schema: str = "Error", **headers: str) -> dict:
    answer = {
        "description": description,
        "content": {"application/json": {"schema": ref(schema)}},
    }
    if headers:
        answer["headers"] = {
            name: {"description": words, "schema": {"type": "string"}}
            for name, words in headers.items()
        }
    return answer


# Every answer of a token-protected operation may be one of these.
_GUARDED = {
    "401": _answer(
        "No token, not a Bearer token, or one that is not valid.",
        **{"WWW-Authenticate": "Bearer, with error=invalid_token for a bad token."},
    ),
    "403": _answer("The token's owner is not an admin."),
    "503": _answer(
        "The database is unreachable; nothing was changed.",
        **{"Retry-After": "Seconds to wait before trying again."},
    ),
}
_WITH_BODY = {
    "400": _answer(
        "The body or a field is not what the operation reads, or a start names a month that "
        "is not over yet (a dry run of it is answered, with a warning); the message says why."
    ),
    "413": _answer("The body is over 1 MiB."),
    "415": _answer("The body is not sent as application/json."),
}


def _body(schema: dict) -> dict:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _query(name: str, schema: dict, description: str, required: bool = True) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema,
    }


OPERATIONS = {
    "api.generate_all_monthly_reports": {
        "requestBody": _body(schemas.START_ALL_BODY),
        "responses": {
            "200": {
                "description": (
                    "dry_run: who would be mailed and who skipped, with warnings in words "
                    "(the month is not over, nobody has an attempt, nothing to send). "
                    "A start that would mail nobody: no run is written (task_id null, total 0)."
                ),
                "content": {
                    "application/json": {"schema": {"oneOf": [ref("DryRun"), ref("NothingToSend")]}}
                },
            },
            "202": _answer(
                "Started: every learner without a sent report is mailed once.", "Started"
            ),
            **_WITH_BODY,
            "409": _answer("The month's run is still going.", "Conflict"),
        },
    },
    "api.generate_user_report": {
        "requestBody": _body(schemas.START_ONE_BODY),
        "responses": {
            "202": _answer("Started (an explicit resend when it was sent already).", "StartedOne"),
            **_WITH_BODY,
            "404": _answer("No learner with that id."),
            "409": _answer("This learner's report is being sent right now.", "Conflict"),
        },
    },
    "api.task_status": {
        "parameters": [
            {
                "name": "task_id",
                "in": "path",
                "required": True,
                "description": "The task_id a start answered with.",
                "schema": {"type": "string"},
            }
        ],
        "responses": {
            "200": _answer("The run's state; result when it is finished.", "TaskStatus"),
            "404": _answer("No task with that id."),
        },
    },
    "api.report_summary": {
        "parameters": [
            _query(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": 200, "default": 20},
                "How many recent runs (1 to 200).",
                required=False,
            )
        ],
        "responses": {
            "200": _answer("Recent runs, newest first.", "Summary"),
            "400": _answer("limit is not a whole number from 1 to 200."),
        },
    },
    "api.report_data": {
        "parameters": [
            _query(
                "user_id", {"type": "integer", "minimum": 1, "examples": [2]}, "A learner's id."
            ),
            _query("month_year", schemas.MONTH, "The month, YYYY-MM."),
        ],
        "responses": {
            "200": _answer("The report's data.", "Report"),
            "400": _answer("A bad user id or month."),
            "404": _answer("No learner with that id."),
        },
    },
}


def _summary(view) -> tuple[str, str]:
    lines = (inspect.getdoc(view) or "").splitlines()
    return (lines[0] if lines else ""), "\n".join(lines[1:]).strip()


def document(app: Flask) -> dict:
    """The OpenAPI 3.1 document of the app's /scheduled API routes."""
    paths: dict[str, dict] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.endpoint.startswith("api."):
            continue
        summary, description = _summary(app.view_functions[rule.endpoint])
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            spec = OPERATIONS.get(rule.endpoint, {"responses": {}})  # a test asks for it
            operation = {
                "operationId": rule.endpoint.removeprefix("api."),
                "summary": summary,
                **({"description": description} if description else {}),
                **spec,
                "responses": {**spec["responses"], **_GUARDED},
            }
            paths.setdefault(_PATH_ARGUMENT.sub(r"{\1}", rule.rule), {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Quiz Reports API",
            "version": "1",
            "description": (
                "The /scheduled routes of the original Celery design: start a month's run or "
                "one learner's report, follow it, read a report's data. Every answer is JSON; "
                "errors carry a message in words."
            ),
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": schemas.SCHEMAS,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An admin's API token: flask --app wsgi create-token EMAIL.",
                }
            },
        },
        "security": [{"bearer": []}],
    }


@bp.get("/openapi.json")
def openapi_document():
    """The API's OpenAPI 3.1 document; no token needed."""
    return jsonify(document(current_app))
