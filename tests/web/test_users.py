"""The Users page: admins add staff accounts, change their role, disable and enable them; the
last active admin stays one; every change is in the audit trail with who made it."""

import pytest
from sqlalchemy import func
from sqlalchemy import select

from tests.helpers.apps import with_session
from tests.helpers.audit import trail as audit_trail
from tests.helpers.factories import ADMIN_EMAIL
from tests.helpers.factories import make_staff
from tests.helpers.web import htmx
from tests.helpers.web import login
from tests.helpers.web import text_of
from webapp.core.models import AuditEntry
from webapp.core.models import User
from webapp.web.services import get_session


def trail(app) -> list[tuple[str, str, str, str, str]]:
    """(actor, action, target, detail, source) of every entry but sign-ins, oldest first."""
    e = AuditEntry
    return audit_trail(app, e.actor, e.action, e.target, e.detail, e.source)


def user_count(app) -> int:
    return with_session(app, lambda s: s.scalar(select(func.count()).select_from(User)))


def role_of(app, user_id: int) -> str:
    return with_session(app, lambda s: s.get(User, user_id).role)


@pytest.fixture
def viewer_id(mail_app, world) -> int:
    with mail_app.app_context():
        s = get_session()
        user = make_staff(s, "viewer", "vera@example.com")
        s.commit()
        return user.id


def test_the_page_lists_staff_accounts_with_role_and_status_and_no_learners(admin, viewer_id):
    words = text_of(admin.get("/users"))
    assert "Ada Admin (you) admin@example.test" in words
    assert "Viewer Person vera@example.com" in words
    assert "Priya" not in words  # a learner
    assert words.count("✓ Active") == 2


def test_an_added_account_with_a_generated_password_signs_in_with_it(mail_app, admin, world):
    added = htmx(admin, "POST", "/users", data={"email": "Olga@Example.com", "role": "operator"})
    assert added.status_code == 201
    html = added.get_data(as_text=True)
    password = html.split('id="new-password"')[1].split(">", 1)[1].split("<", 1)[0]
    assert len(password) >= 10
    assert "Olga@example.com can now sign in as operator." in text_of(added)
    assert password not in admin.get("/users").get_data(as_text=True)  # shown once
    client = mail_app.test_client()
    assert login(client, "Olga@example.com", password).status_code == 303
    assert 'action="/runs"' in client.get("/").get_data(as_text=True)  # an operator
    assert trail(mail_app) == [
        (ADMIN_EMAIL, "user_added", "Olga@example.com", "role operator", "127.0.0.1")
    ]


def test_an_account_added_with_a_password_gets_that_one(mail_app, admin, world):
    added = admin.post(
        "/users",
        data={"email": "paul@example.com", "role": "viewer", "password": "a chosen password"},
    )
    assert added.status_code == 201
    assert 'id="new-password"' not in added.get_data(as_text=True)
    assert login(mail_app.test_client(), "paul@example.com", "a chosen password").status_code == 303


@pytest.mark.parametrize(
    "data,words",
    [
        ({"email": "", "role": "viewer"}, "Enter the person's email address."),
        ({"email": "not an email", "role": "viewer"}, "That is not an email address"),
        ({"email": "new@example.com", "role": "user"}, "Not a valid choice"),
        ({"email": "new@example.com", "role": "viewer", "password": "short"}, "at least 10"),
        ({"email": "vera@example.com", "role": "admin"}, "is already the viewer account"),
        ({"email": "priya", "role": "viewer"}, "That is not an email address"),
    ],
)
def test_a_bad_addition_is_refused_in_words_and_adds_nothing(
    mail_app, admin, viewer_id, data, words
):
    before = user_count(mail_app)
    refused = htmx(admin, "POST", "/users", data=data)
    assert refused.status_code == 422
    assert words in text_of(refused)
    assert user_count(mail_app) == before and trail(mail_app) == []


def test_a_role_change_and_disabling_are_recorded(mail_app, admin, viewer_id):
    changed = htmx(admin, "POST", f"/users/{viewer_id}/role", data={"role": "operator"})
    assert changed.status_code == 200
    assert "vera@example.com is now an operator." in text_of(changed)
    assert role_of(mail_app, viewer_id) == "operator"
    same = htmx(admin, "POST", f"/users/{viewer_id}/role", data={"role": "operator"})
    assert "vera@example.com was an operator already." in text_of(same)
    disabled = htmx(admin, "POST", f"/users/{viewer_id}/disable")
    assert "vera@example.com is disabled" in text_of(disabled)
    assert "⊘ Disabled" in text_of(disabled)
    enabled = admin.post(f"/users/{viewer_id}/enable")
    assert enabled.status_code == 303
    assert [(a, t, d) for _w, a, t, d, _s in trail(mail_app)] == [
        ("role_changed", "vera@example.com", "viewer → operator"),
        ("user_disabled", "vera@example.com", ""),
        ("user_enabled", "vera@example.com", ""),
    ]
    assert {w for w, *_ in trail(mail_app)} == {ADMIN_EMAIL}


@pytest.mark.parametrize("role", ["user", "owner", ""])
def test_a_role_that_is_not_staff_is_refused(mail_app, admin, viewer_id, role):
    refused = admin.post(f"/users/{viewer_id}/role", data={"role": role})
    assert refused.status_code == 400
    assert "Pick one of the roles viewer, operator, admin; nothing was changed." in text_of(refused)
    assert role_of(mail_app, viewer_id) == "viewer"


@pytest.mark.parametrize("path", ["/users/{id}/role", "/users/{id}/disable", "/users/{id}/enable"])
def test_a_learner_or_no_account_is_not_found(admin, world, path):
    for target in (world["learner_ids"][0], 999_999):
        response = admin.post(path.format(id=target), data={"role": "admin"})
        assert response.status_code == 404
        assert "There is no staff account with id" in text_of(response)


@pytest.mark.parametrize(
    "path,data", [("/users/{id}/role", {"role": "viewer"}), ("/users/{id}/disable", {})]
)
def test_the_last_active_admin_cannot_step_down(mail_app, admin, world, viewer_id, path, data):
    me = world["admin_id"]
    refused = htmx(admin, "POST", path.format(id=me), data=data)
    assert refused.status_code == 409
    assert "You are the last active admin" in text_of(refused)
    assert role_of(mail_app, me) == "admin" and trail(mail_app) == []
    assert admin.get("/users").status_code == 200  # still signed in, still an admin


def test_with_another_admin_an_admin_may_step_down_and_is_signed_out(mail_app, admin, world):
    with mail_app.app_context():
        s = get_session()
        make_staff(s, "admin", "second@example.test")
        s.commit()
    stepped = htmx(admin, "POST", f"/users/{world['admin_id']}/role", data={"role": "viewer"})
    assert stepped.status_code == 200
    assert stepped.headers["HX-Redirect"] == "/login"
    assert admin.get("/users").status_code == 302
    assert login(admin).status_code == 303
    assert admin.get("/users").status_code == 403  # a viewer now
