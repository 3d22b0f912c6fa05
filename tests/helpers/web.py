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


_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def form_fields(response, marker: str) -> dict[str, str]:
    """The hidden fields of the first form after `marker` in the page: what its button posts."""
    html = response.get_data(as_text=True)
    after = html[html.index(marker) :]
    form = after[after.index("<form") : after.index("</form>")]
    return {name: unescape(value) for name, value in _HIDDEN.findall(form)}


def answer_of(question) -> dict[str, str]:
    """What a confirmation's button posts: its form's hidden fields, the answer among them."""
    return form_fields(question, 'id="confirm-panel"')


def confirmed(client, path: str, data: dict | None = None, headers: dict | None = None):
    """POST an action that asks first, then answer its question as its button would; the
    answer's response. The question must be asked (200) and offer the button."""
    question = client.post(path, data=data or {}, headers=headers or {})
    assert question.status_code == 200, (question.status_code, text_of(question)[:500])
    answer = answer_of(question)
    assert "confirmed" in answer, text_of(question)[:500]
    return client.post(path, data=answer, headers=headers or {})
