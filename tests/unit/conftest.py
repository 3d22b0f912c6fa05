"""Fixtures of the unit tests: the report world, a run of three learners, the capture server,
rate limiters, and a self-signed certificate for STARTTLS."""

import shutil
import ssl
import subprocess

import pytest
from sqlalchemy import select
from sqlalchemy import update

from tests.helpers.factories import make_report_world
from tests.helpers.factories import make_user
from webapp.core import launch
from webapp.core.clock import utcnow
from webapp.core.models import Delivery
from webapp.core.models import ReportRun
from webapp.core.months import Month
from webapp.infra.capture import start_capture_server
from webapp.infra.ratelimit import limiter_for
from webapp.infra.settings import Settings


@pytest.fixture
def report_world(session) -> dict:
    """The report tests' world (tests/helpers/factories.py): quizzes "q", users "u", scores "s"."""
    return make_report_world(session)


@pytest.fixture
def run_of_three(session):
    """A running all-learner run for December 2024 of three learners: (run, delivery ids,
    learners)."""
    learners = [make_user(session) for _ in range(3)]
    session.commit()
    run = launch.start_all(
        session, Month(2024, 12), mail_from="Quiz Reports <reports@quiz.example>"
    )
    session.execute(update(ReportRun).values(state="running", started_at=utcnow()))
    session.commit()
    ids = list(session.scalars(select(Delivery.id).order_by(Delivery.id)))
    return run, ids, learners


@pytest.fixture
def outbox(tmp_path):
    """Where the capture server of the test writes."""
    return tmp_path / "outbox"


@pytest.fixture
def capture(outbox):
    """The capture server of `make run` on a free port, writing to outbox."""
    controller = start_capture_server(outbox, port=0)
    yield controller
    controller.stop()


@pytest.fixture
def make_limiter(limiter_store):
    """Build limiters on the test's store; all of them are closed afterwards."""
    made = []

    def make(per_second=0.0, per_hour=0):
        config = {
            **limiter_store,
            "MAIL_RATE_PER_SECOND": per_second,
            "MAIL_RATE_PER_HOUR": per_hour,
        }
        limiter = limiter_for(Settings().updated(config))
        made.append(limiter)
        return limiter

    yield make
    for limiter in made:
        limiter.close()


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory):
    """A certificate for 127.0.0.1 and a server TLS context using it."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return cert, context
