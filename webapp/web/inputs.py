"""What a request carries, read strictly in one place: ids in paths, whole numbers in the
query string and JSON bodies. Anything else is a 4xx in words, before a view runs its SQL."""

import json
import re

from flask import Flask
from flask import Request
from flask import request
from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter

# The largest id a row can have: the id columns are INTEGER, 32 bits on PostgreSQL, which
# refuses a larger value ("integer out of range") where SQLite's driver raises OverflowError
# past 2**63; either was a 500 instead of a 404.
LARGEST_ID = 2**31 - 1
# This API's bodies are flat objects; json.loads recurses once per level, and a body nested a
# few thousand levels deep (which fits in a kilobyte or two) exhausts the stack.
MAX_JSON_DEPTH = 32
# Pages of a listing: more than any table here has (a page past the last shows the last).
MAX_PAGE = 10**6

# ASCII digits only: str.isdigit() and the regex \d also take "²", "①" or "٣", which int()
# refuses or reads as another number.
_WHOLE = re.compile(r"[0-9]{1,19}")
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_JSON_BRACKET = re.compile(r"[\[\]{}]")


class DatabaseId(IntegerConverter):
    """`<int:...>` in every route: ASCII digits up to LARGEST_ID; anything else is a 404."""

    regex = r"[0-9]+"

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", LARGEST_ID)
        super().__init__(url_map, *args, **kwargs)


def whole_number(text, lowest: int, highest: int) -> int | None:
    """`text` (a str of ASCII digits, or an int) as an int from lowest to highest; else None."""
    if isinstance(text, bool):
        return None
    if isinstance(text, str):
        text = text.strip()
        if not _WHOLE.fullmatch(text):
            return None
        text = int(text)
    if not isinstance(text, int) or not lowest <= text <= highest:
        return None
    return text


def query_number(name: str, default: int, lowest: int, highest: int) -> int:
    """The query string's `name` as a whole number; `default` when absent or empty, else 400."""
    text = request.args.get(name, "")
    if not text.strip():
        return default
    value = whole_number(text, lowest, highest)
    if value is None:
        raise BadRequest(f"{name} must be a whole number from {lowest:,} to {highest:,}.")
    return value


def _depth(text: str) -> int:
    """How deep the arrays and objects of a JSON text nest (stops counting past the limit)."""
    depth = 0
    for bracket in _JSON_BRACKET.findall(_JSON_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        if depth > MAX_JSON_DEPTH:
            break
    return depth


def json_body(req: Request | None = None):
    """The request's JSON body, parsed; 400 in words if it is not UTF-8 JSON or nests too deep."""
    raw = (req or request).get_data(cache=True)
    try:
        # RFC 8259: JSON exchanged between systems is UTF-8; reading it as text first also
        # means the depth count sees the same characters the parser will.
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("The request body is not UTF-8 text; send JSON in UTF-8.") from None
    if _depth(text) > MAX_JSON_DEPTH:
        raise BadRequest(
            f"The JSON body nests more than {MAX_JSON_DEPTH} levels deep; "
            'send a flat object, e.g. {"month_year": "2024-12"}.'
        )
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        # RecursionError too: the depth count is a fast guard, the parser the last word.
        raise BadRequest("The request body is not valid JSON.") from None


def init_app(app: Flask) -> None:
    """Bound every `<int:...>` route; call before the blueprints are registered."""
    app.url_map.converters["int"] = DatabaseId
