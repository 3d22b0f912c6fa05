"""Signing in and out: staff only, one message for any bad credentials, local `next` only.
(tests/web/test_signin_*.py: the throttle, sessions that can be ended, the same answer for
every refusal.)"""

import time

import pytest

from tests.helpers.apps import open_app
from tests.helpers.factories import ADMIN_EMAIL
from tests.helpers.factories import PASSWORD
from tests.helpers.factories import make_admin
from tests.helpers.factories import make_user
from tests.helpers.signin import set_policy
from tests.helpers.web import htmx
from tests.helpers.web import login
from tests.helpers.web import text_of
from webapp.core.models import User
from webapp.web.auth import BAD_CREDENTIALS
from webapp.web.services import get_session


def test_sign_in_page_has_labelled_fields(client):
    page = client.get("/login")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<label for="email">Email</label>' in html
    assert '<label for="password">Password</label>' in html
    assert "<title>Sign in · Quiz Reports</title>" in html


def test_admin_signs_in_and_lands_on_the_overview(mail_app, world):
    client = mail_app.test_client()
    response = login(client)
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    page = client.get("/")
    assert page.status_code == 200
    assert "Monthly report runs" in text_of(page)


@pytest.mark.parametrize(
    "email,password",
    [(ADMIN_EMAIL, "wrong password"), ("nobody@example.test", PASSWORD)],
)
def test_wrong_password_and_unknown_email_get_the_same_words(mail_app, world, email, password):
    client = mail_app.test_client()
    response = login(client, email, password)
    assert response.status_code == 200
    assert BAD_CREDENTIALS in response.get_data(as_text=True)
    assert client.get("/").status_code == 302  # still signed out


def test_learner_gets_the_same_words_as_a_wrong_password(mail_app, world):
    with mail_app.app_context():
        s = get_session()
        make_user(
            s, username="sam", email="sam@example.test", full_name="Sam Student", password=PASSWORD
        )
        s.commit()
    client = mail_app.test_client()
    response = login(client, "sam@example.test")
    assert response.status_code == 200
    assert BAD_CREDENTIALS in response.get_data(as_text=True)
    assert "learners receive their reports by email" in text_of(response)
    assert client.get("/").status_code == 302


def test_sign_in_clears_the_session_first(mail_app, world):
    client = mail_app.test_client()
    with client.session_transaction() as sess:
        sess["planted"] = "by an attacker"
    login(client)
    with client.session_transaction() as sess:
        assert "planted" not in sess
        assert sess["_user_id"]


@pytest.mark.parametrize("target", ["/learners", "/runs/1?state=failed"])
def test_next_goes_to_a_local_path(mail_app, world, target):
    response = login(mail_app.test_client(), next_url=target)
    assert response.headers["Location"] == target


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "//evil.example/path",
        "/\\evil.example",
        "\\\\evil.example",
        "https://evil.example/",
        "http:evil.example",
        "javascript:alert(1)",
        "/\t/evil.example",
        "evil.example",
        "",
    ],
)
def test_next_never_leaves_the_site(mail_app, world, target):
    response = login(mail_app.test_client(), next_url=target)
    assert response.status_code == 303
    assert response.headers["Location"] == "/"


def test_login_page_keeps_only_a_safe_next(mail_app, world):
    client = mail_app.test_client()
    assert 'value="/learners"' in client.get("/login?next=/learners").get_data(as_text=True)
    page = client.get("/login?next=//evil.example").get_data(as_text=True)
    assert "evil.example" not in page


def test_signed_out_visitor_is_sent_to_sign_in_with_next(mail_app, world):
    client = mail_app.test_client()
    response = client.get("/learners?q=priya")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/learners?q%3Dpriya"


def test_signed_out_htmx_request_is_told_to_load_the_sign_in_page(mail_app, world):
    response = htmx(mail_app.test_client(), "GET", "/runs/1/progress")
    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/login"


def test_sign_out_is_a_post_and_ends_the_session(admin):
    assert admin.get("/logout").status_code == 405
    response = admin.post("/logout")
    assert response.status_code == 303
    assert admin.get("/").status_code == 302


def test_a_signed_in_user_who_is_no_longer_staff_is_refused_and_signed_out(mail_app, admin):
    with mail_app.app_context():
        s = get_session()
        s.query(User).filter_by(email=ADMIN_EMAIL).update({"role": "user"})
        s.commit()
    response = admin.get("/")
    assert response.status_code == 403
    assert "Only staff accounts" in text_of(response)
    assert "You have been signed out" in text_of(response)
    with mail_app.app_context():
        s = get_session()
        s.query(User).filter_by(email=ADMIN_EMAIL).update({"role": "admin"})
        s.commit()
    assert admin.get("/").status_code == 302  # the session is over, not just refused


def test_session_ends_after_its_maximum_age(admin):
    with admin.session_transaction() as sess:
        sess["signed_in_at"] = int(time.time()) - 13 * 3600
    assert admin.get("/").status_code == 302


def test_missing_csrf_token_is_a_400_page_in_words(tmp_path):
    with open_app(tmp_path, WTF_CSRF_ENABLED=True) as app:
        with app.app_context():
            make_admin(get_session())
            get_session().commit()
        client = app.test_client()
        refused = client.post("/login", data={"email": ADMIN_EMAIL, "password": PASSWORD})
        assert refused.status_code == 400
        assert "security token is missing or has expired" in text_of(refused)

        page = client.get("/login").get_data(as_text=True)
        token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
        signed_in = client.post(
            "/login", data={"email": ADMIN_EMAIL, "password": PASSWORD, "csrf_token": token}
        )
        assert signed_in.status_code == 303
        # Signing in starts a new session, so the pages carry a new token.
        overview = client.get("/").get_data(as_text=True)
        token = overview.split('name="csrf_token" value="')[1].split('"')[0]

        no_token = client.post("/runs", data={"month": "2024-12", "scope": "all", "start": "1"})
        assert no_token.status_code == 400
        with_header = htmx(
            client,
            "POST",
            "/runs",
            data={"month": "2024-12", "scope": "all", "dry_run": "1"},
            headers={"X-CSRFToken": token},
        )
        assert with_header.status_code == 200


def test_pages_carry_security_headers(admin):
    response = admin.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'self'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "HX-Request" in response.headers["Vary"]
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    assert '"allowEval": false' in html and '"includeIndicatorStyles": false' in html
    assert "<script>" not in html  # no inline script anywhere


def test_repeated_failures_are_throttled_per_account_and_address(mail_app, world):
    set_policy(mail_app, first_delay=60)  # a slow machine's pauses stay well inside the wait
    client = mail_app.test_client()
    for _ in range(3):
        assert login(client, password="guess").status_code == 200
    blocked = login(client)  # even the right password waits now
    assert blocked.status_code == 429
    assert "Too many sign-in attempts. Wait 60 seconds, then try again." in text_of(blocked)
    assert blocked.headers["Retry-After"] == "60"
    with mail_app.app_context():
        s = get_session()
        make_admin(s, email="second@example.test")
        s.commit()
    assert login(client, "second@example.test").status_code == 303  # another account is fine


def test_a_successful_sign_in_forgets_earlier_failures(mail_app, world):
    client = mail_app.test_client()
    for _ in range(2):
        login(client, password="guess")
    assert login(client).status_code == 303
    client.post("/logout")
    for _ in range(2):
        assert login(client, password="guess").status_code == 200
    assert login(client).status_code == 303
