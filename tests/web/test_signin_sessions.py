"""Sessions that can be ended, and one answer for every refused sign-in: a copy of a cookie is
worth nothing after sign-out, sign-out everywhere, a password change, a demotion, or when its
account's id goes to someone else; every refusal gets the same words after one hash check;
the audit trail records sign-ins, failures (with the address), sign-outs and password changes."""

import pytest
from sqlalchemy import delete
from sqlalchemy import insert
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from tests.helpers.factories import ADMIN_EMAIL
from tests.helpers.factories import FAST_HASH
from tests.helpers.factories import PASSWORD
from tests.helpers.factories import make_admin
from tests.helpers.factories import make_user
from tests.helpers.signin import HashChecks
from tests.helpers.signin import from_address
from tests.helpers.signin import set_policy
from tests.helpers.web import login
from tests.helpers.web import text_of
from webapp.core import sessions
from webapp.core.models import AuditEntry
from webapp.core.models import User
from webapp.web.account import WRONG_CURRENT
from webapp.web.auth import BAD_CREDENTIALS
from webapp.web.services import get_session

NEW_PASSWORD = "a new and long password"


def _signed_in(app):
    client = app.test_client()
    assert login(client).status_code == 303
    return client


def _copy(app, client):
    """Another client holding a copy of `client`'s session cookie (a stolen cookie)."""
    thief = app.test_client()
    cookie = client.get_cookie("session")
    thief.set_cookie("session", cookie.value)
    return thief


def _trail(app) -> list[tuple[str, str, str, str]]:
    with app.app_context():
        entries = get_session().scalars(select(AuditEntry).order_by(AuditEntry.id))
        return [(e.action, e.actor, e.source, e.detail) for e in entries]


def test_sign_out_ends_the_session_for_a_copy_of_the_cookie_too(mail_app, world):
    client = _signed_in(mail_app)
    thief = _copy(mail_app, client)
    assert thief.get("/").status_code == 200
    client.post("/logout")
    assert thief.get("/").status_code == 302
    assert client.get("/").status_code == 302


def test_sign_out_leaves_the_accounts_other_browsers_signed_in(mail_app, world):
    laptop, phone = _signed_in(mail_app), _signed_in(mail_app)
    laptop.post("/logout")
    assert phone.get("/").status_code == 200


def test_sign_out_everywhere_ends_every_session_of_the_account(mail_app, world):
    laptop, phone = _signed_in(mail_app), _signed_in(mail_app)
    assert laptop.get("/account").status_code == 200
    assert "in 2 browsers now" in text_of(laptop.get("/account"))
    assert laptop.get("/logout/everywhere").status_code == 405  # a POST only
    response = laptop.post("/logout/everywhere", follow_redirects=True)
    assert "You have signed out in every browser (2 sessions ended)" in text_of(response)
    assert laptop.get("/").status_code == 302
    assert phone.get("/").status_code == 302
    assert ("sign_out_everywhere", ADMIN_EMAIL, "127.0.0.1", "2 sessions ended") in _trail(mail_app)


def test_a_password_change_ends_the_other_sessions_and_keeps_this_one(mail_app, world):
    here, elsewhere = _signed_in(mail_app), _signed_in(mail_app)
    thief = _copy(mail_app, here)
    response = here.post(
        "/account/password",
        data={"current": PASSWORD, "new": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert response.status_code == 303
    assert here.get("/").status_code == 200
    assert elsewhere.get("/").status_code == 302
    assert thief.get("/").status_code == 302  # the copy holds the old session
    here.post("/logout")
    assert login(mail_app.test_client()).status_code == 200  # the old password is refused
    assert login(mail_app.test_client(), password=NEW_PASSWORD).status_code == 303
    assert ("password_changed", ADMIN_EMAIL, "127.0.0.1", "2 sessions ended") in _trail(mail_app)


@pytest.mark.parametrize(
    "form,words",
    [
        ({"current": "not it", "new": NEW_PASSWORD, "confirm": NEW_PASSWORD}, WRONG_CURRENT),
        ({"current": PASSWORD, "new": NEW_PASSWORD, "confirm": "something else"}, "differ"),
        ({"current": PASSWORD, "new": "short", "confirm": "short"}, "10 to 1,024 characters"),
        ({"current": PASSWORD, "new": PASSWORD, "confirm": PASSWORD}, "the one you have now"),
        ({"new": NEW_PASSWORD, "confirm": NEW_PASSWORD}, "Enter your current password"),
    ],
)
def test_a_refused_password_change_says_why_and_changes_nothing(mail_app, world, form, words):
    here, elsewhere = _signed_in(mail_app), _signed_in(mail_app)
    response = here.post("/account/password", data=form)
    assert response.status_code == 422
    assert words in text_of(response)
    assert PASSWORD not in response.get_data(as_text=True)  # passwords are not sent back
    assert here.get("/").status_code == 200 and elsewhere.get("/").status_code == 200
    with mail_app.app_context():
        assert get_session().get(User, world["admin_id"]).check_password(PASSWORD)


def test_guessing_the_current_password_is_throttled_and_audited(mail_app, world):
    set_policy(mail_app, first_delay=60)
    here = _signed_in(mail_app)
    wrong = {"current": "guess", "new": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    statuses = [here.post("/account/password", data=wrong).status_code for _ in range(4)]
    assert statuses == [422, 422, 422, 429]
    failures = [e for e in _trail(mail_app) if e[0] == "sign_in_failed"]
    assert len(failures) == 3
    assert failures[0][1:3] == (ADMIN_EMAIL, "127.0.0.1")


def test_the_command_line_setting_a_password_ends_the_sessions(mail_app, world):
    with mail_app.app_context():
        make_admin(get_session(), email="boss@example.com")
        get_session().commit()
    client = mail_app.test_client()
    assert login(client, "boss@example.com").status_code == 303
    result = mail_app.test_cli_runner().invoke(
        args=["create-admin", "boss@example.com", "--password-stdin"], input=NEW_PASSWORD + "\n"
    )
    assert result.exit_code == 0, result.output
    assert client.get("/").status_code == 302
    changed = [entry for entry in _trail(mail_app) if entry[0] == "password_changed"]
    assert len(changed) == 1 and changed[0][1].startswith("command line (")
    assert changed[0][3] == "1 session ended"


def test_revoke_sessions_signs_a_demoted_account_out(mail_app, world):
    client = _signed_in(mail_app)
    with mail_app.app_context():
        s = get_session()
        sessions.revoke_sessions(s, world["admin_id"])
        s.commit()
    assert client.get("/").status_code == 302


def test_a_deleted_admins_cookie_is_not_a_new_admins_session_with_the_same_id(mail_app, world):
    client = _signed_in(mail_app)
    admin_id = world["admin_id"]
    with mail_app.app_context():
        s = get_session()
        s.execute(delete(User).where(User.id == admin_id))
        # The platform gives the id to a new admin, as a table without AUTOINCREMENT would.
        s.execute(
            insert(User).values(
                id=admin_id,
                username="new@example.test",
                email="new@example.test",
                role="admin",
                password_hash=generate_password_hash("the new admin's", method=FAST_HASH),
            )
        )
        s.commit()
    assert client.get("/").status_code == 302


def test_a_session_cookie_without_a_session_token_is_signed_out(mail_app, world):
    client = _signed_in(mail_app)
    with client.session_transaction() as cookie:
        del cookie["session_token"]
    assert client.get("/").status_code == 302


def _learner_and_broken_admins(app) -> None:
    with app.app_context():
        s = get_session()
        make_user(s, username="sam", email="sam@example.test", password=PASSWORD)
        make_user(s, username="b@example.test", email="b@example.test", role="admin")
        s.execute(
            User.__table__.update()
            .where(User.email == "b@example.test")
            .values(password_hash="scrypt:bad$a$b")
        )
        s.commit()


@pytest.mark.parametrize(
    "email,password,reason",
    [
        ("nobody@example.test", PASSWORD, "no staff account has this email"),
        ("sam@example.test", PASSWORD, "no staff account has this email"),
        (ADMIN_EMAIL, "wrong password", "wrong password"),
        ("b@example.test", PASSWORD, "the account's stored password hash cannot be read"),
    ],
    ids=["unknown email", "learner with the right password", "wrong password", "bad hash"],
)
def test_every_refusal_gets_the_same_answer_after_a_hash_check(
    mail_app, world, monkeypatch, email, password, reason
):
    _learner_and_broken_admins(mail_app)
    checks = HashChecks(monkeypatch)
    response = mail_app.test_client().post(
        "/login", data={"email": email, "password": password}, **from_address("203.0.113.9")
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    error = page.split('id="signin-error">')[1].split("</p>")[0]
    assert error == BAD_CREDENTIALS
    assert "learner account" not in page
    assert checks.count >= 1
    assert ("sign_in_failed", email, "203.0.113.9", reason) in _trail(mail_app)


def test_the_trail_records_a_sign_in_and_a_sign_out(mail_app, world):
    client = _signed_in(mail_app)
    client.post("/logout")
    trail = _trail(mail_app)
    assert [e[:3] for e in trail] == [
        ("sign_in", ADMIN_EMAIL, "127.0.0.1"),
        ("sign_out", ADMIN_EMAIL, "127.0.0.1"),
    ]


def test_an_email_longer_than_emails_can_be_is_refused_by_the_form(mail_app, world):
    typed = "x" * 250 + "@example.test"
    response = mail_app.test_client().post("/login", data={"email": typed, "password": "x"})
    assert response.status_code == 422
    assert "An email address has at most 254 characters." in text_of(response)
    assert _trail(mail_app) == []
