"""Fixtures and helpers of the dashboard tests: an app that mails the test SMTP server with
tasks run in-process, a small world of learners, and signing in through the real form."""

import re
from datetime import datetime
from html import unescape

import pytest
from werkzeug.security import generate_password_hash

from tests.factories import make_chapter
from tests.factories import make_quiz
from tests.factories import make_score
from tests.factories import make_subject
from tests.factories import make_user
from webapp.web.services import get_session

MONTH = "2024-12"
ADMIN_EMAIL = "admin@example.test"
PASSWORD = "correct horse battery"


def fast_user(session, password: str = PASSWORD, **kw):
    """A user whose password hash is cheap to check (the product's scrypt takes 0.3 s)."""
    user = make_user(session, **kw)
    user.password_hash = generate_password_hash(password, method="pbkdf2:sha256:1000")
    session.flush()
    return user


def fast_admin(session, email: str = ADMIN_EMAIL, **kw):
    kw.setdefault("full_name", "Ada Admin")
    return fast_user(session, username=email, email=email, role="admin", **kw)


@pytest.fixture
def world(mail_app):
    """An admin, three learners with December 2024 attempts and one without an email."""
    with mail_app.app_context():
        s = get_session()
        admin = fast_admin(s)
        quiz = make_quiz(s, make_chapter(s, make_subject(s)))
        learners = []
        names = [("priya", "Priya Raman"), ("tomas", "Tomás Ortega"), ("amara", "Amara Okafor")]
        for i, (username, name) in enumerate(names):
            user = make_user(s, full_name=name, username=username)
            make_score(s, user, quiz, datetime(2024, 12, 5 + i, 10), 6 + i, 10)
            learners.append(user)
        no_email = make_user(s, full_name="Nadia Nomail", username="nadia", email=None)
        s.commit()
        return {
            "admin_id": admin.id,
            "learner_ids": [u.id for u in learners],
            "emails": [u.email for u in learners],
            "no_email_id": no_email.id,
        }


def login(client, email: str = ADMIN_EMAIL, password: str = PASSWORD, next_url: str = ""):
    """Sign in through the real form; returns the response."""
    data = {"email": email, "password": password}
    if next_url:
        data["next"] = next_url
    return client.post("/login", data=data)


@pytest.fixture
def admin(mail_app, world):
    """A test client signed in as the admin."""
    client = mail_app.test_client()
    response = login(client)
    assert response.status_code == 303, response.data
    return client


def htmx(client, method: str, path: str, **kw):
    """A request as htmx makes it."""
    headers = {"HX-Request": "true", **kw.pop("headers", {})}
    return client.open(path, method=method, headers=headers, **kw)


def text_of(response) -> str:
    """The response body with tags removed and whitespace collapsed, for word checks."""
    html = response.get_data(as_text=True)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())
