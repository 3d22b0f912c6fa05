"""GET /scheduled/openapi.json: a valid OpenAPI 3.1 document of every API route, served without
a token, whose schemas name exactly the fields the frozen contract names."""

import pytest
import schemathesis

from tests.web import test_api_contract as frozen
from webapp.web.api.openapi import OPERATIONS

SHAPES = {
    "Report": frozen.REPORT,
    "Started": frozen.STARTED_ALL,
    "StartedOne": frozen.STARTED_ONE,
    "DryRun": frozen.DRY_RUN,
    "NothingToSend": frozen.NOTHING_TO_SEND,
    "TaskStatus": frozen.TASK_STATUS,
    "Summary": frozen.SUMMARY,
    "Error": frozen.ERROR,
}


def fetch(app) -> dict:
    response = app.test_client().get("/scheduled/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


def test_it_is_served_without_a_token_and_is_valid_openapi_3_1(app):
    document = fetch(app)
    assert document["openapi"] == "3.1.0"
    assert document["security"] == [{"bearer": []}]
    schemathesis.openapi.from_dict(document).validate()  # the OpenAPI 3.1 meta-schema
    # The routes around it still want a token.
    assert app.test_client().get("/scheduled/report-summary").status_code == 401


def test_every_api_route_is_in_it_and_nothing_else(app):
    routes = {
        (rule.rule.replace("<task_id>", "{task_id}"), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("api.")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = {
        (path, method) for path, operations in fetch(app)["paths"].items() for method in operations
    }
    assert documented == routes
    assert len(routes) == len(OPERATIONS) == 5


def test_every_operation_has_a_summary_and_answers_every_guard(app):
    for operations in fetch(app)["paths"].values():
        for operation in operations.values():
            assert operation["summary"]
            assert {"401", "403", "503"} <= set(operation["responses"])


def names(schema: dict, components: dict):
    """The field names a schema allows, nested as the frozen shapes write them."""
    if "$ref" in schema:
        return names(components[schema["$ref"].rsplit("/", 1)[1]], components)
    if "anyOf" in schema:
        found = [names(s, components) for s in schema["anyOf"] if s.get("type") != "null"]
        return found[0]
    if schema.get("type") == "object":
        return {key: names(value, components) for key, value in schema["properties"].items()}
    if schema.get("type") == "array":
        return [names(schema["items"], components)]
    return "leaf"


def shape_names(shape):
    """A frozen shape with its types replaced, to compare field names only."""
    if isinstance(shape, dict):
        return {key: shape_names(value) for key, value in shape.items()}
    if isinstance(shape, list):
        return [shape_names(shape[0])] if shape else []
    return "leaf"


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_its_schemas_name_the_frozen_fields(app, name):
    components = fetch(app)["components"]["schemas"]
    documented = names(components[name], components)
    frozen_shape = shape_names(SHAPES[name])
    # The frozen shapes write a null (a run not finished, no change) as a leaf.
    assert _without_nulls(documented, frozen_shape) == frozen_shape


def _without_nulls(documented, frozen_shape):
    if isinstance(frozen_shape, dict) and isinstance(documented, dict):
        return {
            key: _without_nulls(documented[key], frozen_shape[key]) if key in frozen_shape else ...
            for key in documented
        }
    if frozen_shape == "leaf":
        return "leaf"
    if isinstance(frozen_shape, list) and isinstance(documented, list):
        return [_without_nulls(documented[0], frozen_shape[0])] if frozen_shape else []
    return documented


def objects(schema):
    """Every object schema within `schema`, itself included."""
    if isinstance(schema, dict):
        if schema.get("type") == "object":
            yield schema
        for value in schema.values():
            yield from objects(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from objects(value)


def test_every_answer_is_a_closed_object(app):
    # Closed: a field a serializer gains without the document is an answer the document
    # refuses, which the schemathesis test then reports.
    answers = fetch(app)["components"]["schemas"]
    found = list(objects(answers))
    assert len(found) > 20
    for schema in found:
        assert schema["additionalProperties"] is False, schema
        required = set(schema["required"])
        # Conflict's task_id, month_year and state come only with a run that is known.
        optional = {"task_id", "month_year", "state"} & set(schema["properties"])
        if "error" not in schema["properties"]:
            optional = set()
        assert required | optional == set(schema["properties"]), schema
