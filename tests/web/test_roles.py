"""Roles in the dashboard and the API: a viewer reads, an operator also acts, an admin also
manages tokens, accounts and the trail; a button a role may not use is not shown to it, and
its POST is refused anyway. Disabled and demoted accounts lose what they had at once."""

import pytest
from sqlalchemy import func
from sqlalchemy import select

from tests.helpers.apps import with_session
from tests.helpers.factories import MONTH
from tests.helpers.factories import make_bulk_run
from tests.helpers.factories import make_staff
from tests.helpers.web import bearer
from tests.helpers.web import htmx
from tests.helpers.web import login
from tests.helpers.web import text_of
from webapp.core import staff
from webapp.core.audit import Actor
from webapp.core.models import AuditEntry
from webapp.core.models import ReportRun
from webapp.core.models import User
from webapp.core.tokens import create_token
from webapp.web.api.views import DISABLED
from webapp.web.auth import BAD_CREDENTIALS
from webapp.web.services import get_session

ADMIN_ACTOR = Actor("admin@example.test")


def runs_count(app) -> int:
    return with_session(app, lambda s: s.scalar(select(func.count()).select_from(ReportRun)))


def user_id(app, email: str) -> int:
    return with_session(app, lambda s: s.scalar(select(User.id).where(User.email == email)))


@pytest.fixture
def bulk_run(mail_app, world) -> int:
    """A running run of two learners: one sent, one failed (so Retry and Resend apply)."""
    return with_session(mail_app, lambda s: make_bulk_run(s, 2, failed_every=2))


# What each role's pages offer: (path, a piece of the markup only someone who may use it sees).
def action_markup(run_id: int, learner_id: int) -> list[tuple[str, str]]:
    return [
        ("/", 'action="/runs"'),
        (f"/runs/{run_id}", f'action="/runs/{run_id}/pause"'),
        (f"/runs/{run_id}", f'action="/runs/{run_id}/cancel"'),
        (f"/runs/{run_id}", f'action="/runs/{run_id}/retry-failed"'),
        (f"/runs/{run_id}", "/resend"),
        (f"/learners/{learner_id}", f'action="/learners/{learner_id}/send"'),
        (f"/learners/{learner_id}/preview/{MONTH}", "/send-test"),
    ]


ADMIN_MARKUP = [("/", 'href="/tokens"'), ("/", 'href="/users"'), ("/", 'href="/audit"')]


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_each_role_is_shown_only_the_buttons_it_may_use(staff_client, bulk_run, world, role):
    client = staff_client(role, f"{role}-2@example.test")
    for path, markup in action_markup(bulk_run, world["learner_ids"][0]):
        page = client.get(path)
        assert page.status_code == 200, path
        assert (markup in page.get_data(as_text=True)) == (role != "viewer"), (path, markup)
    for path, markup in ADMIN_MARKUP:
        assert (markup in client.get(path).get_data(as_text=True)) == (role == "admin"), markup
    if role == "viewer":
        assert "Starting, pausing and cancelling runs is for operators" in text_of(client.get("/"))


def test_a_viewers_actions_are_refused_in_words_and_change_nothing(
    mail_app, staff_client, bulk_run, world, smtp_server
):
    viewer = staff_client("viewer")
    before = runs_count(mail_app)
    posts = [
        ("/runs", {"month": MONTH, "scope": "all", "start": "1"}),
        (f"/runs/{bulk_run}/pause", {}),
        (f"/runs/{bulk_run}/cancel", {}),
        (f"/learners/{world['learner_ids'][0]}/send", {"month": MONTH}),
        (f"/learners/{world['learner_ids'][0]}/preview/{MONTH}/send-test", {}),
    ]
    for path, data in posts:
        refused = viewer.post(path, data=data)
        assert refused.status_code == 403, path
        words = text_of(refused)
        assert "This action needs an operator or an admin. Your role is viewer" in words, path
        assert htmx(viewer, "POST", path, data=data).status_code == 403
    assert runs_count(mail_app) == before
    assert with_session(mail_app, lambda s: s.get(ReportRun, bulk_run).state) == "running"
    assert smtp_server.messages == []
    assert viewer.get("/").status_code == 200  # refused, not signed out


def test_an_operator_acts_but_the_admin_pages_are_refused(mail_app, staff_client, bulk_run):
    operator = staff_client("operator")
    for path in ("/tokens", "/users", "/audit"):
        refused = operator.get(path)
        assert refused.status_code == 403
        assert "This is for admins only. Your role is operator" in text_of(refused)
    assert operator.post("/users", data={"email": "x@example.com"}).status_code == 403
    paused = operator.post(f"/runs/{bulk_run}/pause")
    assert paused.status_code == 303
    assert with_session(mail_app, lambda s: s.get(ReportRun, bulk_run).state) == "paused"


def test_a_disabled_account_cannot_sign_in_and_its_open_session_ends(mail_app, staff_client):
    operator = staff_client("operator")
    with mail_app.app_context():
        staff.disable(get_session(), ADMIN_ACTOR, user_id(mail_app, "operator@example.test"))
    # Disabling ended its sessions: the open one is sent to sign in again.
    assert operator.get("/").status_code == 302
    again = login(mail_app.test_client(), "operator@example.test")
    # The answer a wrong password gets: nothing says the password was right.
    assert again.status_code == 200 and BAD_CREDENTIALS in again.get_data(as_text=True)
    with mail_app.app_context():
        staff.enable(get_session(), ADMIN_ACTOR, user_id(mail_app, "operator@example.test"))
    assert login(mail_app.test_client(), "operator@example.test").status_code == 303


def test_a_demoted_account_is_signed_out_and_signs_in_again_with_its_new_role(
    mail_app, admin, staff_client, bulk_run
):
    operator = staff_client("operator")
    assert 'action="/runs"' in operator.get("/").get_data(as_text=True)
    changed = admin.post(
        f"/users/{user_id(mail_app, 'operator@example.test')}/role", data={"role": "viewer"}
    )
    assert changed.status_code == 303
    assert operator.get("/").status_code == 302  # that session is over
    assert login(operator, "operator@example.test").status_code == 303
    assert 'action="/runs"' not in operator.get("/").get_data(as_text=True)
    assert operator.post(f"/runs/{bulk_run}/pause").status_code == 403


def test_a_learner_cannot_sign_in(mail_app, world):
    with mail_app.app_context():
        s = get_session()
        make_staff(s, "user", "sam@example.test")  # a learner with a password
        s.commit()
    client = mail_app.test_client()
    # The answer anyone else refused gets: nothing says the password was right.
    refused = login(client, "sam@example.test")
    assert refused.status_code == 200 and BAD_CREDENTIALS in refused.get_data(as_text=True)
    assert client.get("/").status_code == 302


# --- API tokens carry their owner's role ------------------------------------------------------


def token_of(app, role: str) -> str:
    with app.app_context():
        s = get_session()
        user = make_staff(s, role, f"{role}-api@example.test")
        s.commit()
        return create_token(s, user, f"{role}'s script")[1]


def start_december(client, token):
    return bearer(
        client,
        "POST",
        "/scheduled/generate-all-monthly-reports",
        token,
        json={"month_year": MONTH},
    )


def test_a_viewers_token_reads_but_cannot_start(mail_app, world):
    token = token_of(mail_app, "viewer")
    client = mail_app.test_client()
    assert bearer(client, "GET", "/scheduled/report-summary", token).status_code == 200
    for path, body in (
        ("/scheduled/generate-all-monthly-reports", {"month_year": MONTH}),
        ("/scheduled/generate-user-report", {"month_year": MONTH, "user_id": 2}),
    ):
        refused = bearer(client, "POST", path, token, json=body)
        assert refused.status_code == 403
        assert refused.get_json() == {
            "error": "Forbidden",
            "message": "This token acts as a viewer, who may read but not start runs: "
            "starting needs an operator's or an admin's token.",
        }
    assert runs_count(mail_app) == 0


def test_an_operators_token_starts_a_run_and_the_trail_names_its_owner(mail_app, world):
    token = token_of(mail_app, "operator")
    started = start_december(mail_app.test_client(), token)
    assert started.status_code == 202, started.get_json()
    entries = with_session(
        mail_app,
        lambda s: s.execute(
            select(AuditEntry.actor, AuditEntry.source).where(AuditEntry.action == "run_started")
        ).all(),
    )
    assert [tuple(e) for e in entries] == [("operator-api@example.test (API token)", "127.0.0.1")]


def test_a_disabled_or_demoted_owner_changes_what_the_token_may_do_at_once(mail_app, world):
    token = token_of(mail_app, "operator")
    client = mail_app.test_client()
    owner = user_id(mail_app, "operator-api@example.test")
    with mail_app.app_context():
        staff.disable(get_session(), ADMIN_ACTOR, owner)
    refused = bearer(client, "GET", "/scheduled/report-summary", token)
    assert refused.status_code == 403 and refused.get_json()["message"] == DISABLED
    with mail_app.app_context():
        staff.enable(get_session(), ADMIN_ACTOR, owner)
        staff.set_role(get_session(), ADMIN_ACTOR, owner, "viewer")
    assert start_december(client, token).status_code == 403
    assert bearer(client, "GET", "/scheduled/report-summary", token).status_code == 200
