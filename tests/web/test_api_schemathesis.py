"""Property-based: schemathesis reads /scheduled/openapi.json from the live app (in-process, a
real database and the test queue, which runs the tasks at once) and sends each operation
hundreds of requests, valid and invalid, with an admin's token. It fails on any 5xx and on any
answer the document does not allow (status, content type, headers, body schema).

Deterministic (Hypothesis derandomized, no example database) and bounded: a fixed number of
examples an operation, well under a minute for all of them.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance
from schemathesis.specs.openapi.checks import response_headers_conformance
from schemathesis.specs.openapi.checks import response_schema_conformance
from schemathesis.specs.openapi.checks import status_code_conformance

from tests.helpers.factories import MONTH

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES = 60  # an operation, in each of the valid and invalid modes


def api_operations(app) -> list:
    """The document's operations, read from the app as a client would."""
    schema = schemathesis.openapi.from_wsgi("/scheduled/openapi.json", app)
    return [result.ok() for result in schema.get_all_operations()]


# Driven through Hypothesis directly: schemathesis' own pytest integration (from_fixture)
# reads an attribute pytest 9 no longer has.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_api_keeps_its_document(mail_app, api_world, mode):
    token = {"Authorization": f"Bearer {api_world['token']}"}
    operations = api_operations(mail_app)
    assert len(operations) == 5

    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        def keeps_the_document(case):
            case.call_and_validate(headers=token, checks=CHECKS)

        keeps_the_document()


def test_its_successful_answers_keep_the_document_too(mail_app, api_world):
    # Random ids seldom name a learner or a run: these cases do, so the 200 and 202 answers
    # (the ones with a learner's data) are held to the document as well.
    token = {"Authorization": f"Bearer {api_world['token']}"}
    started = mail_app.test_client().post(
        "/scheduled/generate-all-monthly-reports", json={"month_year": MONTH}, headers=token
    )
    assert started.status_code == 202
    learner = api_world["learner_ids"][0]
    known = {
        "GET /scheduled/task-status/{task_id}": {
            "path_parameters": {"task_id": started.get_json()["task_id"]}
        },
        "GET /scheduled/report-data": {"query": {"user_id": learner, "month_year": MONTH}},
        "POST /scheduled/generate-user-report": {"body": {"user_id": learner, "month_year": MONTH}},
        "POST /scheduled/generate-all-monthly-reports": {
            "body": {"month_year": MONTH, "dry_run": True}
        },
    }
    seen = set()
    for operation in api_operations(mail_app):
        if operation.label not in known:
            continue

        @given(case=operation.as_strategy(**known[operation.label]))
        @settings(max_examples=3, derandomize=True, database=None, deadline=None)
        def keeps_the_document(case):
            response = case.call_and_validate(headers=token, checks=CHECKS)
            seen.add((case.operation.label, response.status_code))

        keeps_the_document()
    assert {status for _label, status in seen} >= {200, 202}
    assert len({label for label, status in seen if status in (200, 202)}) == len(known)
