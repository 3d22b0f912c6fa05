"""Every route of the app, with every method, asked by anonymous, a learner, a viewer, an
operator, an admin and a disabled admin. The routes are read from app.url_map, not listed here,
so a route added without a rule fails this test.

The rule: pages need a signed-in staff account (a redirect to sign in otherwise), the JSON API
a staff account's token (401 otherwise); reading needs a viewer, any other method an operator,
and the admin pages an admin; a learner and a disabled account never get in. Only the routes
of PUBLIC are open to all, each for the reason given.
"""

import pytest
from flask import Blueprint
from sqlalchemy import update
from werkzeug.routing import IntegerConverter
from werkzeug.routing import PathConverter

from tests.helpers.apps import open_app
from tests.helpers.factories import make_staff
from tests.helpers.web import login
from webapp.core import staff
from webapp.core.audit import Actor
from webapp.core.models import User
from webapp.core.states import Role
from webapp.core.tokens import create_token
from webapp.web.access import require_role
from webapp.web.services import get_session

# Open to anyone: a path, or a folder of paths (ending in "/"), and why.
PUBLIC = {
    "/login": "the sign-in form itself",
    "/logout": "ends the caller's own session only (a POST with CSRF, so no other site can)",
    "/logout/everywhere": "ends the caller's own sessions only, as /logout does",
    "/healthz": "liveness for orchestrators: says only that the process answers",
    "/readyz": "readiness for load balancers: names what failed, never a host or a user",
    "/metrics": "for scrapers, behind its own guard: METRICS_TOKEN, or a loopback address",
    "/static/": "the CSS and the vendored htmx",
    "/favicon.ico": "the site's icon, which browsers ask for by that name: it holds no data",
    "/unsubscribe/": "a learner's one-click unsubscribe (RFC 8058): its signed token is the key",
    "/scheduled/openapi.json": "the API's document: it holds no data, and a client reads it "
    "before it has a token",
}
# Entries of PUBLIC that other work of issue 10 adds; the others must name a route.
ADDED_ELSEWHERE = {"/unsubscribe/"}
# Blueprints all of whose routes, reading too, need an admin; and why.
ADMIN_ONLY = {
    "api_tokens": "a token acts as its owner, with its role",
    "users": "who may do what",
    "audit": "staff addresses and sign-in attempts: a security record",
    "suppression": "whom the product must not mail (added by the suppression work)",
}
# Blueprints where every staff role may act, on its own account only.
OWN_ACCOUNT = {"account": "a staff account's own password and sessions"}
API = "/scheduled/"
READING = {"GET"}
RANKS = {"viewer": 1, "operator": 2, "admin": 3}
PERSONAS = ("anonymous", "learner", "disabled", "viewer", "operator", "admin")
ADMIN = Actor("the test")


def is_public(path: str) -> bool:
    return any(path == p or (p.endswith("/") and path.startswith(p)) for p in PUBLIC)


def needed(endpoint: str, method: str) -> str:
    """The least role the rule gives this route and method."""
    if endpoint.split(".")[0] in ADMIN_ONLY:
        return "admin"
    if endpoint.split(".")[0] in OWN_ACCOUNT:
        return "viewer"
    return "viewer" if method in READING else "operator"


def sample(rule, name: str):
    """A value for a path's variable: an id that does not exist, so nothing is changed."""
    converter = rule._converters[name]
    if isinstance(converter, IntegerConverter):
        return 999_999
    if isinstance(converter, PathConverter):
        return "css/app.css"
    return "x"


def requests_of(app) -> list[tuple[str, str, str, str]]:
    """(endpoint, rule, method, url) of every route and method but HEAD and OPTIONS."""
    adapter = app.url_map.bind("localhost")
    found = []
    for rule in app.url_map.iter_rules():
        values = {name: sample(rule, name) for name in rule.arguments}
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            url = adapter.build(rule.endpoint, values, method=method)
            found.append((rule.endpoint, rule.rule, method, url))
    return found


class World:
    """A signed-in session (its cookie) and an API token for each persona."""

    def __init__(self, app):
        self.app = app
        self.cookies: dict[str, str | None] = {"anonymous": None}
        self.tokens: dict[str, str | None] = {"anonymous": None}
        roles = {"learner": "viewer", "disabled": "admin", **{r: r for r in RANKS}}
        with app.app_context():
            s = get_session()
            users = {p: make_staff(s, role, f"{p}@example.test") for p, role in roles.items()}
            s.commit()
            self.tokens |= {p: create_token(s, u, p)[1] for p, u in users.items()}
        for persona in roles:
            client = app.test_client()
            assert login(client, f"{persona}@example.test").status_code == 303
            self.cookies[persona] = client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
        with app.app_context():
            s = get_session()
            # After signing in: the quiz platform made this one a learner, an admin disabled
            # the other. Their sessions and tokens must stop working at once.
            s.execute(update(User).where(User.id == users["learner"].id).values(role="user"))
            s.commit()
            staff.disable(s, ADMIN, users["disabled"].id)

    def ask(self, persona: str, method: str, url: str):
        """The request made by a fresh client of this persona."""
        client = self.app.test_client()
        if url.startswith(API):
            token = self.tokens[persona]
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            return client.open(url, method=method, headers=headers, json={})
        if self.cookies[persona]:
            client.set_cookie(self.app.config["SESSION_COOKIE_NAME"], self.cookies[persona])
        return client.open(url, method=method)


def to_sign_in(response) -> bool:
    return response.status_code in (301, 302, 303) and response.location.startswith("/login")


def got_in(response) -> bool:
    return response.status_code not in (401, 403) and not to_sign_in(response)


def problems_of(app) -> list[str]:
    """What breaks the rule, one line per route, method and persona."""
    world = World(app)
    found = []
    for endpoint, rule, method, url in requests_of(app):
        if is_public(rule):
            continue
        least = needed(endpoint, method)
        for persona in PERSONAS:
            response = world.ask(persona, method, url)
            status = response.status_code
            if persona == "anonymous":
                ok = status == 401 if url.startswith(API) else to_sign_in(response)
                wanted = "401" if url.startswith(API) else "a redirect to sign in"
            elif persona in ("learner", "disabled"):
                ok, wanted = not got_in(response), "kept out"
            elif RANKS[persona] >= RANKS[least]:
                ok, wanted = got_in(response), "let in"
            else:
                ok, wanted = status == 403, "403"
            if not ok:
                found.append(f"{method} {rule} as {persona}: {status}, wanted {wanted}")
    return found


@pytest.fixture
def sweep_app(tmp_path):
    """An app with the capture outbox on (so its pages answer), no request made yet."""
    with open_app(tmp_path, SMTP_CAPTURE=True) as app:
        yield app


def test_every_route_keeps_its_rule_for_every_role(sweep_app):
    assert problems_of(sweep_app) == []


def test_the_sweep_asks_every_route_and_the_allow_list_names_real_ones(sweep_app):
    asked = requests_of(sweep_app)
    rules = {rule for _e, rule, _m, _u in asked}
    assert len(rules) > 30
    for path in set(PUBLIC) - ADDED_ELSEWHERE:
        assert any(r == path or r.startswith(path) for r in rules), path
    # Every admin page is there (a rename would turn it silently into a viewer's).
    blueprints = {endpoint.split(".")[0] for endpoint, *_ in asked}
    assert {"api_tokens", "users", "audit"} <= blueprints


def test_a_route_added_without_a_rule_fails_the_sweep(sweep_app):
    loose = Blueprint("loose", __name__)
    loose.add_url_rule("/loose", "page", lambda: "open to all")
    # Guarded, but an action let through with the reading rule.
    half = Blueprint("half", __name__)
    half.before_request(require_role(Role.VIEWER))
    half.add_url_rule("/half", "act", lambda: "done", methods=["POST"])
    sweep_app.register_blueprint(loose)
    sweep_app.register_blueprint(half)
    problems = problems_of(sweep_app)
    assert "GET /loose as anonymous: 200, wanted a redirect to sign in" in problems
    assert "GET /loose as learner: 200, wanted kept out" in problems
    assert "POST /half as viewer: 200, wanted 403" in problems
    assert not [p for p in problems if "/loose" not in p and "/half" not in p]
