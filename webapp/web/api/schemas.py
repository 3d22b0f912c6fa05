"""JSON Schemas (2020-12, as OpenAPI 3.1 takes them) of what the API reads and writes, field by
field in the order serializers.py writes them: the contract that openapi.py publishes.

Every object is closed (no other field) and names every field required: a field added to a
serializer and not here breaks the document, and tests/web/test_api_schemathesis.py says so,
as tests/web/test_api_contract.py does for the frozen shapes.
"""

from webapp.core.states import DELIVERY_STATES
from webapp.core.states import RunScope
from webapp.core.states import RunState
from webapp.web.api.serializers import SEED_STATES

INT = {"type": "integer"}
COUNT = {"type": "integer", "minimum": 0}
NUMBER = {"type": "number"}
TEXT = {"type": "string"}
FLAG = {"type": "boolean"}
MONTH = {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$", "examples": ["2024-12"]}
TASK_ID = {"type": "string", "format": "uuid"}
# Times are UTC and say so with a Z (RFC 3339), so no client reads them in its own zone.
UTC_TIME = {
    "type": "string",
    "format": "date-time",
    "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]+)?Z$",
    "description": "UTC, ISO 8601 with the Z zone designator.",
    "examples": ["2024-12-31T23:59:58Z"],
}
SEED_STATE = {"enum": sorted(set(SEED_STATES.values()))}
RUN_STATE = {"enum": [state.value for state in RunState]}
DELIVERY_STATE_NAMES = [state.value for state in DELIVERY_STATES]


def maybe(schema: dict) -> dict:
    """`schema` or null."""
    return {"anyOf": [schema, {"type": "null"}]}


def record(description: str = "", **fields: dict) -> dict:
    """A closed object with exactly these fields, each required."""
    schema = {
        "type": "object",
        "properties": fields,
        "required": list(fields),
        "additionalProperties": False,
    }
    return {"description": description, **schema} if description else schema


def many(schema: dict) -> dict:
    """An array of `schema`."""
    return {"type": "array", "items": schema}


def ref(name: str) -> dict:
    """A reference to one of SCHEMAS."""
    return {"$ref": f"#/components/schemas/{name}"}


TOTALS = {"attempts": COUNT, "questions": COUNT, "correct": COUNT, "average_percent": NUMBER}

SCHEMAS = {
    "Error": record("An error in words.", error=TEXT, message=TEXT),
    "Conflict": {
        "description": "A run is still going (its task_id, month and state when known), or for "
        "one learner, the learner is on the suppression list.",
        "type": "object",
        "properties": {
            "error": TEXT,
            "message": TEXT,
            "task_id": TASK_ID,
            "month_year": MONTH,
            "state": RUN_STATE,
        },
        "required": ["error", "message"],
        "additionalProperties": False,
    },
    "Started": record(
        "A run was accepted: poll task-status with its task_id.",
        message=TEXT,
        task_id=TASK_ID,
        total=COUNT,
        month_year=MONTH,
        status=SEED_STATE,
    ),
    "StartedOne": record(
        "One learner's report was accepted.",
        message=TEXT,
        task_id=TASK_ID,
        user_id=INT,
        month_year=MONTH,
        status=SEED_STATE,
    ),
    "DryRun": record(
        "Who a start would mail, and who it would skip and why.",
        month_year=MONTH,
        to_send=many(record(user_id=INT, name=TEXT, email=TEXT)),
        skipped=many(record(user_id=INT, name=TEXT, reason=TEXT)),
        warnings=many(TEXT),
    ),
    "NothingToSend": record(
        "No run was written: every learner already has the month's report or is skipped "
        "(the message says how many of each). total is 0 and task_id null: there is nothing "
        "to poll.",
        message=TEXT,
        task_id={"type": "null"},
        total={"const": 0},
        month_year=MONTH,
        status={"const": SEED_STATES[RunState.DONE]},
    ),
    "TaskStatus": record(
        "A run in the original Celery design's terms; result once it is finished.",
        task_id=TASK_ID,
        state=SEED_STATE,
        run_state=RUN_STATE,
        current=COUNT,
        total=COUNT,
        status=TEXT,
        counts=record(**dict.fromkeys(DELIVERY_STATE_NAMES, COUNT)),
        pause_reason=maybe(TEXT),
        attempted={
            **COUNT,
            "description": "Reports a send was tried for: sent, failed or unknown.",
        },
        rate_sent_per_second=maybe(
            {
                **NUMBER,
                "minimum": 0,
                "description": "Attempted reports per second since the run started; "
                "skipped and cancelled ones are not counted. Null before the first send.",
            }
        ),
        eta_seconds=maybe(
            {
                **COUNT,
                "description": "About how long the open reports take at that rate; "
                "null while paused, once closed, or before the first send.",
            }
        ),
        result=maybe(
            record(
                message=TEXT,
                summary=record(
                    total_users=COUNT,
                    successful=COUNT,
                    failed=COUNT,
                    skipped=COUNT,
                    unknown=COUNT,
                    success_rate=NUMBER,
                ),
                results=many(
                    record(
                        user_id=INT,
                        username=TEXT,
                        email_status={"enum": DELIVERY_STATE_NAMES},
                        success=FLAG,
                        error=maybe(TEXT),
                    )
                ),
                month_year=MONTH,
            )
        ),
    ),
    "Summary": record(
        "Recent runs with their counts, and the work the queue holds.",
        message=TEXT,
        runs=many(
            record(
                task_id=TASK_ID,
                month_year=MONTH,
                scope={"enum": [scope.value for scope in RunScope]},
                user_id=maybe(INT),
                state=SEED_STATE,
                run_state=RUN_STATE,
                total=COUNT,
                sent=COUNT,
                failed=COUNT,
                skipped=COUNT,
                unknown=COUNT,
                created_at=UTC_TIME,
                finished_at=maybe(UTC_TIME),
            )
        ),
        active_tasks=COUNT,
        reserved_tasks=COUNT,
        scheduled_tasks=COUNT,
        note=TEXT,
    ),
    "Report": record(
        "One learner's report for a month: exactly what the email shows.",
        user=record(
            id=INT,
            username=TEXT,
            email=maybe(TEXT),
            full_name=maybe(TEXT),
            qualification=maybe(TEXT),
        ),
        month_year=MONTH,
        month_label=TEXT,
        empty=FLAG,
        totals=record(**TOTALS),
        subjects=many(record(subject_id=INT, name=TEXT, **TOTALS)),
        attempts=many(
            record(
                score_id=INT,
                date=UTC_TIME,
                subject=TEXT,
                chapter=TEXT,
                quiz=TEXT,
                quiz_id=INT,
                scored=INT,
                total=INT,
                percent=NUMBER,
                rank={"type": "integer", "minimum": 1},
                of={"type": "integer", "minimum": 1},
            )
        ),
        chapters=many(record(chapter_id=INT, name=TEXT, subject=TEXT, **TOTALS)),
        days_active=COUNT,
        previous=record(month_year=MONTH, month_label=TEXT, **TOTALS),
        change=maybe(record(attempts=INT, average_percent=NUMBER)),
        first_month=FLAG,
        insights=many(TEXT),
        recommendations=many(TEXT),
        history=many(
            record(
                month_year=MONTH, month_label=TEXT, attempts=COUNT, average_percent=maybe(NUMBER)
            )
        ),
    ),
}

# What the two starts read. Other fields are ignored, so the bodies stay open.
WORDING = {
    "subject": maybe({"type": "string", "maxLength": 150}),
    "intro": maybe({"type": "string", "maxLength": 2000}),
}
START_ALL_BODY = {
    "type": "object",
    "properties": {"month_year": MONTH, "dry_run": FLAG, **WORDING},
    "required": ["month_year"],
}
START_ONE_BODY = {
    "type": "object",
    "properties": {
        "user_id": {
            "anyOf": [
                {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
                {"type": "string", "pattern": "^[0-9]{1,10}$"},
            ],
            "examples": [2],
        },
        "month_year": MONTH,
        **WORDING,
    },
    "required": ["user_id", "month_year"],
}
