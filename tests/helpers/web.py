"""Flask test-client helpers: signing in through the real form, htmx requests, bearer calls,
and a page's words."""

import re
from html import unescape

from tests.helpers.factories import ADMIN_EMAIL
from tests.helpers.factories import PASSWORD


def login(client, email: str = ADMIN_EMAIL, password: str = PASSWORD, next_url: str = ""):
    """Sign in through the real form; returns the response."""
    data = {"email": email, "password": password}
    if next_url:
        data["next"] = next_url
    return client.post("/login", data=data)


def htmx(client, method: str, path: str, **kw):
    """A request as htmx makes it."""
    headers = {"HX-Request": "true", **kw.pop("headers", {})}
    return client.open(path, method=method, headers=headers, **kw)


def bearer(client, method: str, path: str, token: str, **kw):
    """A JSON API request with this API token."""
    return client.open(path, method=method, headers={"Authorization": f"Bearer {token}"}, **kw)


def text_of(response) -> str:
    """The response body with tags removed and whitespace collapsed, for word checks."""
    html = response.get_data(as_text=True)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())
