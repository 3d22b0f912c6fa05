"""The sign-in throttle in the product as it is served: gunicorn with two worker processes
behind a trusted proxy, CSRF on, the admin's password hashed with the product's scrypt.

Twenty wrong passwords sent at once from one address get exactly the three free tries
checked, across both processes (each check is one `sign_in_failed` entry of the audit trail,
which the test reads), and the admin still signs in from another address."""

import http.cookiejar
import re
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from sqlalchemy import select

from tests.helpers import backends
from tests.helpers.apps import open_app
from tests.helpers.factories import ADMIN_EMAIL
from tests.helpers.factories import PASSWORD
from tests.helpers.factories import seed_database
from tests.helpers.stack import ROOT
from tests.helpers.stack import Process
from tests.helpers.stack import free_port
from tests.helpers.stack import process_env
from tests.helpers.waiting import eventually
from webapp.core import accounts
from webapp.core.models import AuditEntry
from webapp.web.services import get_session

ATTACKER = "203.0.113.9"
ADMIN_DESK = "198.51.100.7"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    """One client with its own cookies, seen by the app as coming from `address` (through
    the one trusted proxy)."""

    def __init__(self, base: str, address: str) -> None:
        self.base, self.address = base, address
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirect()
        )

    def request(self, path: str, data: dict | None = None) -> tuple[int, str]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        req = urllib.request.Request(self.base + path, data=body)
        req.add_header("X-Forwarded-For", self.address)
        try:
            with self.opener.open(req, timeout=60) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def sign_in_form(self) -> dict:
        """The sign-in form's fields, with this client's CSRF token."""
        status, page = self.request("/login")
        assert status == 200, page
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        return {"csrf_token": token, "email": ADMIN_EMAIL}


def _answers(base: str) -> bool:
    try:
        return Browser(base, ATTACKER).request("/healthz")[0] == 200
    except OSError:  # not listening yet
        return False


def _hash_checks(tmp_path, database_url) -> list[str]:
    with open_app(tmp_path, DATABASE_URL=database_url) as app, app.app_context():
        entries = get_session().scalars(
            select(AuditEntry).where(AuditEntry.action == "sign_in_failed")
        )
        return [entry.source for entry in entries]


def test_parallel_wrong_passwords_across_processes_get_three_checks(tmp_path, smtp_server):
    database_url = backends.database(tmp_path)
    seed_database(tmp_path, database_url, 2)
    with open_app(tmp_path, DATABASE_URL=database_url) as app, app.app_context():
        # The product's own scrypt: each check costs what it costs in production.
        accounts.set_admin(get_session(), ADMIN_EMAIL, PASSWORD, "Ada Admin")
    port = free_port()
    env = process_env(
        tmp_path,
        smtp_server.port,
        PORT=port,
        TRUSTED_PROXIES=1,
        WEB_CONCURRENCY=2,
        GUNICORN_THREADS=10,
        SIGNIN_CONCURRENT_CHECKS=4,
    )
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    web = Process(
        "gunicorn", [gunicorn, "wsgi:app", "-c", str(ROOT / "gunicorn.conf.py")], env, tmp_path
    )
    try:
        base = f"http://127.0.0.1:{port}"
        eventually(lambda: _answers(base), timeout=30, message=web.log)
        clients = [Browser(base, ATTACKER) for _ in range(20)]
        forms = [client.sign_in_form() for client in clients]
        start = threading.Barrier(len(clients))
        statuses: list[int] = []

        def attempt(client: Browser, form: dict) -> None:
            start.wait()
            statuses.append(client.request("/login", {**form, "password": "a guess"})[0])

        threads = [
            threading.Thread(target=attempt, args=pair) for pair in zip(clients, forms, strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        # Three checked and refused; the others refused before any check, by the throttle
        # (429) or because the process's check slots were busy (503).
        assert sorted(statuses)[:3] == [200, 200, 200]
        assert set(sorted(statuses)[3:]) <= {429, 503} and 429 in statuses
        assert _hash_checks(tmp_path, database_url) == [ATTACKER] * 3

        admin = Browser(base, ADMIN_DESK)
        status, _ = admin.request("/login", {**admin.sign_in_form(), "password": PASSWORD})
        assert status == 303, web.log()
        assert admin.request("/")[0] == 200
    finally:
        web.stop()
