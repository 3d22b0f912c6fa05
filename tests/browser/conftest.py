"""Browser tests: Debian's Chromium driven by Playwright against the real stack.

Each test gets its own database and queue file, a real huey_consumer, the web app on a free
loopback port and the aiosmtpd test server (`smtp_server`) reached over TCP.
"""

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from playwright.sync_api import Page
from playwright.sync_api import expect

from tests.conftest import make_test_config
from tests.factories import make_admin
from tests.factories import make_chapter
from tests.factories import make_quiz
from tests.factories import make_score
from tests.factories import make_subject
from tests.factories import make_user
from tests.harness import free_port
from tests.harness import stack_env
from tests.harness import start_consumer
from tests.harness import start_web
from webapp.app import create_app
from webapp.core.models import create_tables
from webapp.web.services import get_session
from webapp.web.services import runtime

CHROMIUM = "/usr/bin/chromium"
ADMIN_EMAIL = "admin@example.test"
ADMIN_PASSWORD = "correct horse battery"
LEARNER_PASSWORD = "learner password 1"
MONTH = "2024-12"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Debian's Chromium; a missing browser fails every test here, it never skips one."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"Chromium is missing at {CHROMIUM}: apt-get install chromium", pytrace=False)
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
        ],
    }


@pytest.fixture(scope="session")
def base_url():
    # Each test serves its own app on a free port; this also replaces pytest-playwright's
    # fallback fixture, which pytest 9 warns about (and warnings are errors here).
    return None


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1440, "height": 900}}


@dataclass
class Stack:
    """The running app: its URL, its database (for checks) and the SMTP server."""

    base: str
    app: object
    smtp: object
    learners: dict
    tmp_path: Path

    def url(self, path: str) -> str:
        return self.base + path

    def session(self):
        """A context manager giving a fresh database session on the stack's database."""
        return _Session(self.app)


class _Session:
    def __init__(self, app):
        self.app = app

    def __enter__(self):
        self.ctx = self.app.app_context()
        self.ctx.push()
        return get_session()

    def __exit__(self, *exc):
        self.ctx.pop()


def seed(app, extra_learners: int = 0) -> dict:
    """An admin, a learner who can sign in, four learners with December 2024 attempts
    (two quizzes each) and one without an email address."""
    with app.app_context():
        create_tables(runtime().engine)
        s = get_session()
        make_admin(s, ADMIN_EMAIL, ADMIN_PASSWORD)
        chapter = make_chapter(s, make_subject(s, "Mathematics"), "Algebra")
        quizzes = [make_quiz(s, chapter, "Linear equations"), make_quiz(s, chapter, "Quadratics")]
        names = ["Priya Raman", "Tomás Ortega", "Amara Okafor", "Lena Fischer"]
        learners = {}
        for i, name in enumerate(names + [f"Learner {n:03d}" for n in range(extra_learners)]):
            username = name.lower().replace(" ", ".").replace("á", "a")
            user = make_user(s, username=username, full_name=name)
            make_score(s, user, quizzes[0], datetime(2024, 12, 3 + i % 20, 9), 7, 10)
            make_score(s, user, quizzes[1], datetime(2024, 12, 10 + i % 15, 18), 9, 10)
            learners[name] = user.id
        learners["no email"] = make_user(
            s, username="nomail", full_name="Nadia Nomail", email=None
        ).id
        learners["signin"] = make_user(
            s,
            username="sam",
            full_name="Sam Student",
            email="sam@example.test",
            password=LEARNER_PASSWORD,
        ).id
        s.commit()
    return learners


@pytest.fixture
def make_stack(tmp_path, smtp_server):
    """Start the stack; `make_stack(extra_learners=n)` seeds n more learners first."""
    processes = []
    apps = []

    def make(extra_learners: int = 0, **env_extra) -> Stack:
        app = create_app(make_test_config(tmp_path, SMTP_PORT=smtp_server.port))
        apps.append(app)
        learners = seed(app, extra_learners)
        env = stack_env(
            tmp_path,
            smtp_server.port,
            HUEY_SQLITE_PATH=str(tmp_path / "queue.sqlite3"),
            SMTP_SERVER="",  # the built-in capture setting, so the Outbox page is on
            DISPLAY_TIMEZONE="Europe/Berlin",
            **env_extra,
        )
        processes.append(start_consumer(env, tmp_path))
        port = free_port()
        processes.append(start_web(env, tmp_path, port))
        return Stack(f"http://127.0.0.1:{port}", app, smtp_server, learners, tmp_path)

    yield make
    for proc in reversed(processes):
        proc.stop()
    for app in apps:
        app.extensions["runtime"].close()


@pytest.fixture
def stack(make_stack) -> Stack:
    return make_stack()


def sign_in(page: Page, stack: Stack, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD):
    """Sign in through the real form."""
    page.goto(stack.url("/login"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def start_run(page: Page, month: str = MONTH) -> None:
    """Start an all-learner run from the overview and land on its page."""
    page.get_by_label("Month").fill(month)
    page.get_by_role("button", name="Start run").click()
    page.wait_for_url("**/runs/*")


def wait_for_state(page: Page, state: str = "done", timeout: float = 20_000) -> None:
    """Wait until the progress component shows this run state."""
    expect(page.locator("#run-progress")).to_have_attribute("data-state", state, timeout=timeout)


def shot(page: Page, name: str) -> None:
    """With QR_SHOTS=<dir>, save this page at 1440 and 390 px (for looking, not asserting)."""
    folder = os.environ.get("QR_SHOTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    for label, width, height in (("wide", 1440, 900), ("phone", 390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(250)
        page.screenshot(path=f"{folder}/{name}-{label}.png", full_page=True)
    page.set_viewport_size({"width": 1440, "height": 900})
