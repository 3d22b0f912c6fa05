"""Browser tests: Debian's Chromium driven by Playwright against the real stack.

Each test gets its own database and queue file, a real huey_consumer, the web app on a free
loopback port and the aiosmtpd test server (`smtp_server`) reached over TCP.
"""

import os

import pytest

from tests.helpers import backends
from tests.helpers.apps import open_app
from tests.helpers.factories import make_browser_world
from tests.helpers.ledger import LedgerView
from tests.helpers.stack import Stack
from tests.helpers.stack import process_env
from webapp.web.services import get_session

CHROMIUM = "/usr/bin/chromium"


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
    """None: each test serves its own app on a free port."""
    # This also replaces pytest-playwright's fallback fixture, which pytest 9 warns about
    # (and warnings are errors here).
    return None


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    """Pages open at 1440 x 900."""
    return {**browser_context_args, "viewport": {"width": 1440, "height": 900}}


@pytest.fixture
def make_stack(tmp_path, smtp_server, stacks):
    """Seed the browser world (tests/helpers/factories.py) and start a consumer and the web
    app on it; `make_stack(extra_learners=n)` seeds n more learners first."""

    def make(extra_learners: int = 0, **env_extra) -> Stack:
        with open_app(tmp_path) as app, app.app_context():
            make_browser_world(get_session(), extra_learners)
        env = process_env(
            tmp_path,
            smtp_server.port,
            SMTP_SERVER="",  # the built-in capture setting, so the Outbox page is on
            DISPLAY_TIMEZONE="Europe/Berlin",
            **env_extra,
        )
        stack = stacks(env)
        stack.start_consumer("consumer")
        stack.start_web()
        return stack

    return make


@pytest.fixture
def stack(make_stack) -> Stack:
    """The stack on the browser world as it is seeded."""
    return make_stack()


@pytest.fixture
def ledger(tmp_path):
    """The stack's database, read in the test process."""
    view = LedgerView(tmp_path, backends.database(tmp_path))
    yield view
    view.close()
