"""The sign-in throttle against real parallel requests: a try is counted before any password
is checked, so a burst gets exactly the free tries checked; a process runs a bounded number
of checks at once; a stranger's flood never keeps an admin out at another address.

Hash checks are counted through the seam of core/accounts.py (tests/helpers/signin.py)."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.helpers.apps import open_app
from tests.helpers.factories import ADMIN_EMAIL
from tests.helpers.factories import PASSWORD
from tests.helpers.factories import make_admin
from tests.helpers.signin import HashChecks
from tests.helpers.signin import from_address
from tests.helpers.signin import set_policy
from tests.helpers.waiting import eventually
from tests.helpers.web import login
from tests.helpers.web import text_of
from webapp.web.auth import BAD_CREDENTIALS
from webapp.web.services import get_session
from webapp.web.throttle import BUSY
from webapp.web.throttle import UNAVAILABLE

ATTACKER = "203.0.113.9"
ADMIN_DESK = "198.51.100.7"


@pytest.fixture
def make_app(tmp_path):
    """make_app(**settings): a test app with an admin, closed after the test."""
    apps = []

    def make(**settings):
        context = open_app(tmp_path, **settings)
        app = context.__enter__()
        apps.append(context)
        with app.app_context():
            make_admin(get_session())
            get_session().commit()
        return app

    yield make
    for context in apps:
        context.__exit__(None, None, None)


def _burst(app, checks: HashChecks, attempts: list[tuple[str, str, str]], checked: int):
    """Send the sign-ins (email, password, address) at once, each from a client of its own,
    with every hash check held until the rest have been answered; the responses."""
    answered = []
    lock = threading.Lock()

    def attempt(args):
        email, password, address = args
        response = login_from(app.test_client(), address, email, password)
        with lock:
            answered.append(response)
        return response

    with ThreadPoolExecutor(len(attempts)) as pool:
        futures = [pool.submit(attempt, args) for args in attempts]
        try:
            # Every request is in: either answered without a check, or held inside one.
            eventually(
                lambda: (
                    len(answered) + checks.running == len(attempts) and checks.running == checked
                ),
                timeout=30,
                message=lambda: f"{len(answered)} answered, {checks.running} checking",
            )
        finally:
            checks.hold.set()
        return [future.result() for future in futures]


def login_from(client, address: str, email: str = ADMIN_EMAIL, password: str = PASSWORD):
    return client.post(
        "/login", data={"email": email, "password": password}, **from_address(address)
    )


def test_twenty_parallel_wrong_passwords_check_only_the_three_free_tries(make_app, monkeypatch):
    app = make_app(SIGNIN_CONCURRENT_CHECKS=20)
    checks = HashChecks(monkeypatch, hold=threading.Event())
    responses = _burst(app, checks, [(ADMIN_EMAIL, "guess", ATTACKER)] * 20, checked=3)
    assert checks.count == 3
    assert sorted(r.status_code for r in responses) == [200] * 3 + [429] * 17
    refused = next(r for r in responses if r.status_code == 429)
    assert "Too many sign-in attempts" in text_of(refused)
    assert int(refused.headers["Retry-After"]) >= 1


def test_a_process_runs_a_bounded_number_of_checks_and_asks_the_rest_to_retry(
    make_app, monkeypatch
):
    app = make_app(SIGNIN_CONCURRENT_CHECKS=2)
    checks = HashChecks(monkeypatch, hold=threading.Event())
    # Different accounts from different addresses: the throttle refuses none of them.
    attempts = [(f"someone{n}@example.test", "guess", f"192.0.2.{n}") for n in range(8)]
    responses = _burst(app, checks, attempts, checked=2)
    assert checks.most_at_once == 2 and checks.count == 2
    busy = [r for r in responses if r.status_code == 503]
    assert len(busy) == 6
    assert BUSY in text_of(busy[0]) and busy[0].headers["Retry-After"] == "1"
    # Nothing was counted for the busy ones: each may try again at once.
    monkeypatch.undo()
    assert login_from(app.test_client(), "192.0.2.7", "someone7@example.test").status_code == 200


def test_a_flood_from_one_address_does_not_keep_the_admin_out_at_another(mail_app, world):
    set_policy(mail_app, first_delay=60)  # a slow machine's pauses stay well inside the wait
    attacker = mail_app.test_client()
    statuses = [login_from(attacker, ATTACKER, password="guess").status_code for _ in range(12)]
    assert statuses == [200] * 3 + [429] * 9
    # The flooding address waits even with the right password; the admin's desk does not.
    assert login_from(attacker, ATTACKER).status_code == 429
    assert login_from(mail_app.test_client(), ADMIN_DESK).status_code == 303


def test_the_wait_is_said_in_words_and_in_retry_after(mail_app, world):
    set_policy(mail_app, free_tries=3, first_delay=60)
    client = mail_app.test_client()
    for _ in range(3):
        login_from(client, ATTACKER, password="guess")
    refused = login_from(client, ATTACKER, password="guess")
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "60"
    assert "Too many sign-in attempts. Wait 60 seconds, then try again." in text_of(refused)


def test_an_address_trying_many_accounts_is_capped_over_all_of_them(mail_app, world):
    set_policy(mail_app, per_address=5)
    client = mail_app.test_client()
    for n in range(5):
        assert login_from(client, ATTACKER, f"guess{n}@example.test", "x").status_code == 200
    capped = login_from(client, ATTACKER, "another@example.test", "x")
    assert capped.status_code == 429
    assert "about 15 minutes" in text_of(capped)
    assert login_from(mail_app.test_client(), ADMIN_DESK).status_code == 303


def test_an_ipv6_client_is_counted_by_its_64(mail_app, world):
    set_policy(mail_app, first_delay=60)
    client = mail_app.test_client()
    for n in range(3):
        login_from(client, f"2001:db8:1:2::{n + 1}", password="guess")
    assert login_from(client, "2001:db8:1:2::99").status_code == 429
    assert login_from(mail_app.test_client(), "2001:db8:1:3::1").status_code == 303


def test_a_store_that_cannot_answer_refuses_before_any_check(mail_app, world, monkeypatch):
    def down(*_args):
        raise ConnectionError("the store is down")

    monkeypatch.setattr(mail_app.extensions["runtime"].attempts, "take", down)
    checks = HashChecks(monkeypatch)
    response = login(mail_app.test_client())
    assert response.status_code == 503
    assert UNAVAILABLE in text_of(response)
    assert checks.count == 0


def test_a_refused_try_is_answered_in_the_same_words_as_before(mail_app, world):
    response = login(mail_app.test_client(), password="guess")
    assert response.status_code == 200
    assert BAD_CREDENTIALS in text_of(response)
