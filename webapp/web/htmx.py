"""htmx-aware responses: a component alone for htmx, the whole page (which includes it) else."""

from flask import make_response
from flask import render_template
from flask import request


def is_htmx() -> bool:
    """True when htmx made the request (it sends HX-Request: true in 2.x and 4.x)."""
    return request.headers.get("HX-Request") == "true"


def render(page_template: str, fragment_template: str, /, status: int = 200, **context):
    """The fragment for htmx, the page otherwise; every URL stays bookmarkable."""
    body = render_template(fragment_template if is_htmx() else page_template, **context)
    response = make_response(body, status)
    response.vary.add("HX-Request")
    return response


def redirect_page(target: str):
    """Send htmx to another page: a redirect would be swapped into the component instead."""
    response = make_response("", 200)
    response.headers["HX-Redirect"] = target
    return response
