"""Fixtures of the Flask test-client tests: the three-learner world, a signed-in admin, clients
of the other roles, API tokens, and an app whose outbox is the capture server's."""

import pytest

from tests.helpers.apps import open_app
from tests.helpers.factories import make_admin
from tests.helpers.factories import make_learner_world
from tests.helpers.factories import make_staff
from tests.helpers.web import login
from webapp.core.models import User
from webapp.core.tokens import create_token
from webapp.web.services import get_session


@pytest.fixture
def world(mail_app) -> dict:
    """The learner world (tests/helpers/factories.py) in mail_app's database, by id."""
    with mail_app.app_context():
        return make_learner_world(get_session()).ids()


@pytest.fixture
def admin(mail_app, world):
    """A test client signed in as the world's admin."""
    client = mail_app.test_client()
    response = login(client)
    assert response.status_code == 303, response.data
    return client


@pytest.fixture
def staff_client(mail_app, world):
    """staff_client(role, email=None): a test client signed in through the form as a new staff
    account of that role (<role>@example.test unless given)."""

    def make(role: str, email: str | None = None):
        with mail_app.app_context():
            s = get_session()
            email = make_staff(s, role, email).email
            s.commit()
        client = mail_app.test_client()
        response = login(client, email)
        assert response.status_code == 303, response.data
        return client

    return make


@pytest.fixture
def api_world(mail_app, world) -> dict:
    """The world with API tokens: the admin's ("token") and the first learner's."""
    with mail_app.app_context():
        s = get_session()
        token = create_token(s, s.get(User, world["admin_id"]))[1]
        learner_token = create_token(s, s.get(User, world["learner_ids"][0]))[1]
    return {**world, "token": token, "learner_token": learner_token}


@pytest.fixture
def capture_app(tmp_path):
    """An app using the built-in capture server (so the Outbox is on), with an admin."""
    with open_app(tmp_path, SMTP_CAPTURE=True) as app:
        with app.app_context():
            make_admin(get_session())
            get_session().commit()
        yield app
