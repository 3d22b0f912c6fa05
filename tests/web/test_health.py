"""/healthz and /readyz, without signing in; the Workers page and the run page's warning."""

from datetime import timedelta

from sqlalchemy import update

from tests.helpers.apps import open_app
from tests.helpers.factories import make_user
from tests.helpers.web import text_of
from webapp.core import launch
from webapp.core import workers
from webapp.core.clock import utcnow
from webapp.core.models import WorkerBeat
from webapp.core.months import Month
from webapp.web.services import get_session

MONTH = Month(2024, 12)


def a_consumer_beats(app, seconds_ago: float = 0.0) -> None:
    with app.app_context():
        s = get_session()
        me = workers.Consumer("worker-1", 4242, "thread", 2, True, utcnow())
        workers.beat(s, me, tasks_done=12, current_run=None)
        s.execute(update(WorkerBeat).values(beat_at=utcnow() - timedelta(seconds=seconds_ago)))
        s.commit()


def a_run_waits(app) -> int:
    """A run of one learner, queued: a month with nobody to mail starts none."""
    with app.app_context():
        session = get_session()
        make_user(session)
        session.commit()
        return launch.start_all(session, MONTH, mail_from="r@quiz.example").id


def test_healthz_answers_without_asking_anything(client):
    response = client.get("/healthz")
    assert (response.status_code, response.get_json()) == (200, {"status": "ok"})


def test_readyz_is_ready_with_the_database_and_queue_up_and_nothing_waiting(client):
    response = client.get("/readyz")
    body = response.get_json()
    assert response.status_code == 200 and body["status"] == "ready"
    assert body["checks"]["database"] == {"ok": True} and body["checks"]["queue"] == {"ok": True}
    assert body["checks"]["workers"]["runs_waiting"] == 0


def test_readyz_says_no_worker_is_running_while_a_run_waits_and_ready_once_one_beats(app, client):
    a_run_waits(app)
    response = client.get("/readyz")
    assert response.status_code == 503
    workers_check = response.get_json()["checks"]["workers"]
    assert workers_check["error"] == "no worker is running while runs wait"
    assert workers_check["newest_heartbeat_seconds"] is None
    a_consumer_beats(app, seconds_ago=2)
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert 1 < ready.get_json()["checks"]["workers"]["newest_heartbeat_seconds"] < 30


def test_readyz_names_an_unreachable_database_without_its_address_or_password(tmp_path):
    url = "postgresql+psycopg://reports:hunter2-secret@127.0.0.1:9/quiz"
    with open_app(tmp_path, tables=False, DATABASE_URL=url) as app:
        response = app.test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["checks"]["database"] == {"ok": False, "error": "the database does not answer"}
    assert "hunter2" not in response.get_data(as_text=True)
    assert "127.0.0.1" not in response.get_data(as_text=True)


def test_the_workers_page_lists_alive_and_silent_consumers(app, admin):
    a_consumer_beats(app)
    page = text_of(admin.get("/workers"))
    assert "1 worker alive" in page and "worker-1 pid 4242" in page and "✓ Alive" in page
    assert "2 threads" in page and "12" in page
    a_consumer_beats(app, seconds_ago=300)
    assert "0 workers alive" in text_of(admin.get("/workers"))
    assert "✗ Silent" in text_of(admin.get("/workers"))


def test_the_run_page_says_when_no_worker_is_running(app, admin):
    run_id = a_run_waits(app)
    assert "No worker is running" in text_of(admin.get(f"/runs/{run_id}"))
    a_consumer_beats(app)
    assert "No worker is running" not in text_of(admin.get(f"/runs/{run_id}"))


def test_readyz_names_a_queue_store_that_does_not_answer(tmp_path):
    with open_app(tmp_path, REDIS_URL="redis://127.0.0.1:9/0") as app:
        response = app.test_client().get("/readyz")
    assert response.status_code == 503
    checks = response.get_json()["checks"]
    assert checks["queue"] == {"ok": False, "error": "the queue's store does not answer"}
    assert checks["database"] == {"ok": True}
