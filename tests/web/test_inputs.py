"""Inputs an attacker picks: ids past the database's integers, numbers in other scripts' digits,
JSON nested thousands deep. Each is a 4xx in words and changes nothing."""

import pytest
from sqlalchemy import func
from sqlalchemy import select
from werkzeug.routing import IntegerConverter

from tests.helpers.apps import with_session
from tests.helpers.factories import MONTH
from tests.helpers.factories import make_bulk_run
from tests.helpers.web import bearer
from tests.helpers.web import login
from tests.helpers.web import text_of
from webapp.core.models import Delivery
from webapp.core.models import ReportRun
from webapp.web import inputs

# Digits int() refuses ("²", "①") and digits of other scripts it reads as numbers.
NOT_ASCII_DIGITS = ["²", "①", "٣", "１", "߁"]
TOO_BIG = [2**31, 2**63, 2**64 + 1, 10**30, int("9" * 500)]
START = "/scheduled/generate-all-monthly-reports"


def ledger_size(app) -> tuple[int, int]:
    """How many runs and deliveries the app's database has."""
    return with_session(
        app,
        lambda s: (
            s.scalar(select(func.count()).select_from(ReportRun)),
            s.scalar(select(func.count()).select_from(Delivery)),
        ),
    )


def id_routes(app):
    """Every route with an id in its path: (rule, the id arguments, the method to call)."""
    found = []
    for rule in app.url_map.iter_rules():
        ids = [
            name for name, conv in rule._converters.items() if isinstance(conv, inputs.DatabaseId)
        ]
        if ids:
            found.append((rule, ids, "POST" if "POST" in rule.methods else "GET"))
    return found


def test_every_int_route_takes_the_bounded_converter(mail_app):
    for rule in mail_app.url_map.iter_rules():
        numbers = [c for c in rule._converters.values() if isinstance(c, IntegerConverter)]
        assert all(isinstance(c, inputs.DatabaseId) for c in numbers), rule.rule
        assert len(numbers) == rule.rule.count("<int:"), rule.rule
    # Runs (7), learners (2), the preview (4), tokens (1) when this was written.
    assert len(id_routes(mail_app)) >= 14


@pytest.mark.parametrize("number", [*TOO_BIG, 2**31 - 1])
def test_an_id_past_the_databases_integers_is_a_404_in_words(mail_app, world, number):
    client = mail_app.test_client()
    assert login(client).status_code == 303
    before = ledger_size(mail_app)
    for rule, ids, method in id_routes(mail_app):
        path = rule.rule.replace("<month>", MONTH)
        for name in ids:
            path = path.replace(f"<int:{name}>", str(number))
        response = client.open(path, method=method)
        assert response.status_code == 404, (method, path, response.status_code)
        assert "not found" in text_of(response).lower() or "There is no" in text_of(response)
    assert ledger_size(mail_app) == before


def test_ids_in_other_scripts_digits_name_no_row(mail_app, world):
    client = mail_app.test_client()
    login(client)
    learner = world["learner_ids"][0]
    assert client.get(f"/learners/{learner}").status_code == 200
    for digit in ("٣", "１"):
        assert client.get(f"/learners/{digit}").status_code == 404


@pytest.mark.parametrize("page", [*NOT_ASCII_DIGITS, "-1", "0", "1.0", "1e3", "0x10", "10" * 20])
def test_a_page_that_is_not_a_whole_number_is_a_400_in_words(mail_app, admin, page):
    run_id = with_session(mail_app, lambda s: make_bulk_run(s, 3))
    for path in ("/learners", f"/runs/{run_id}"):
        response = admin.get(path, query_string={"page": page})
        assert response.status_code == 400, (path, page)
        assert "page must be a whole number from 1 to 1,000,000." in text_of(response)
    # The good ones still work, and an empty page is the first.
    for path in ("/learners", f"/runs/{run_id}"):
        assert admin.get(path, query_string={"page": "2"}).status_code == 200
        assert admin.get(path, query_string={"page": ""}).status_code == 200


@pytest.mark.parametrize("page", ["²", "①", "-1"])
def test_the_outbox_page_number_is_strict_too(capture_app, page):
    client = capture_app.test_client()
    login(client)
    assert client.get("/outbox?page=2").status_code == 200
    response = client.get("/outbox", query_string={"page": page})
    assert response.status_code == 400
    assert "page must be a whole number" in text_of(response)


@pytest.mark.parametrize("limit", ["²", "①", "٣", "0", "201", "-5", "9" * 40])
def test_the_api_limit_is_strict(mail_app, api_world, limit):
    path = f"/scheduled/report-summary?limit={limit}"
    response = bearer(mail_app.test_client(), "GET", path, api_world["token"])
    assert response.status_code == 400
    assert response.get_json()["message"] == "limit must be a whole number from 1 to 200."


@pytest.mark.parametrize("user_id", ["٤", "²", "１", str(2**31), str(2**63), "4 2", 2**40])
def test_the_api_user_id_takes_ascii_digits_only(mail_app, api_world, user_id):
    client, token = mail_app.test_client(), api_world["token"]
    path = f"/scheduled/report-data?user_id={user_id}&month_year={MONTH}"
    response = bearer(client, "GET", path, token)
    assert response.status_code == 400
    assert "is not a learner id" in response.get_json()["message"]
    body = {"user_id": user_id, "month_year": MONTH}
    response = bearer(client, "POST", "/scheduled/generate-user-report", token, json=body)
    assert response.status_code == 400
    assert ledger_size(mail_app) == (0, 0)
    learner = api_world["learner_ids"][0]
    path = f"/scheduled/report-data?user_id=%20{learner}%20&month_year={MONTH}"
    assert bearer(client, "GET", path, token).status_code == 200


def deep(levels: int, kind: str) -> str:
    """A JSON text nested `levels` deep: arrays, or objects of one key."""
    if kind == "array":
        return "[" * levels + "]" * levels
    return '{"month_year":' * levels + '"2024-12"' + "}" * levels


@pytest.mark.parametrize("kind", ["array", "object"])
@pytest.mark.parametrize("levels", [33, 5_000, 50_000])
def test_json_nested_deep_is_a_400_in_words(mail_app, api_world, kind, levels):
    client, token = mail_app.test_client(), api_world["token"]
    for path in (START, "/scheduled/generate-user-report"):
        response = bearer(
            client,
            "POST",
            path,
            token,
            data=deep(levels, kind),
            content_type="application/json",
        )
        assert response.status_code == 400
        assert "nests more than 32 levels deep" in response.get_json()["message"]
    assert ledger_size(mail_app) == (0, 0)


def test_the_parser_is_the_last_word_on_depth(mail_app, api_world, monkeypatch):
    # With the fast count out of the way, the parser's own RecursionError is still a 400.
    monkeypatch.setattr(inputs, "MAX_JSON_DEPTH", 10**9)
    response = bearer(
        mail_app.test_client(),
        "POST",
        START,
        api_world["token"],
        data=deep(100_000, "array"),
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.get_json()["message"] == "The request body is not valid JSON."
    assert ledger_size(mail_app) == (0, 0)


def test_brackets_inside_strings_do_not_count(mail_app, api_world):
    intro = '[{"quoted \\" [ and { stay text"' * 40
    body = {"month_year": MONTH, "dry_run": True, "intro": intro}
    response = bearer(mail_app.test_client(), "POST", START, api_world["token"], json=body)
    assert response.status_code == 200, response.get_json()
    nested = {"month_year": MONTH, "dry_run": True, "x": [[[[[[[[1]]]]]]]]}
    response = bearer(mail_app.test_client(), "POST", START, api_world["token"], json=nested)
    assert response.status_code == 200


def test_json_that_is_not_utf8_is_a_400(mail_app, api_world):
    # UTF-16 is where a count of bytes and the parser would disagree about strings.
    body = '["\\"", ' + "[" * 5000 + "]" * 5000 + ', ""]'
    response = bearer(
        mail_app.test_client(),
        "POST",
        START,
        api_world["token"],
        data=body.encode("utf-16"),
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "not UTF-8" in response.get_json()["message"]


def test_whole_number_reads_ascii_digits_within_bounds_only():
    assert inputs.whole_number("42", 1, 100) == 42
    assert inputs.whole_number(" 42 ", 1, 100) == 42
    assert inputs.whole_number(42, 1, 100) == 42
    for bad in ("", "0", "101", "²", "①", "٣", "4.0", "+4", "-4", True, 4.0, None, "9" * 30):
        assert inputs.whole_number(bad, 1, 100) is None, bad
    assert inputs.whole_number(str(2**31 - 1), 1, inputs.LARGEST_ID) == 2**31 - 1
    assert inputs.whole_number(str(2**31), 1, inputs.LARGEST_ID) is None


@pytest.mark.parametrize("month", ["٢٠٢٤-١٢", "２０２４-１２", "2024-1２", "2024-12\n"])
def test_a_month_takes_ascii_digits_only(mail_app, api_world, month):
    learner = api_world["learner_ids"][0]
    response = bearer(
        mail_app.test_client(),
        "GET",
        "/scheduled/report-data",
        api_world["token"],
        query_string={"user_id": learner, "month_year": month},
    )
    # A trailing line break is whitespace around a good month; other scripts' digits are not.
    assert response.status_code == (200 if month == "2024-12\n" else 400)
