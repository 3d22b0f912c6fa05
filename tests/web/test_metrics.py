"""/metrics: the ledger's figures in Prometheus' format, for this machine or a token."""

from prometheus_client.parser import text_string_to_metric_families

from tests.helpers.apps import open_app
from tests.helpers.apps import reconfigure
from tests.helpers.factories import MONTH
from tests.helpers.web import confirmed
from webapp.core import workers
from webapp.core.clock import utcnow
from webapp.web.services import get_session

LOCAL = {"REMOTE_ADDR": "127.0.0.1"}
ELSEWHERE = {"REMOTE_ADDR": "203.0.113.9"}


def samples(response) -> dict:
    """{(name, labels as a sorted tuple): value} of a scrape."""
    found = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


def test_metrics_show_a_finished_run_and_the_workers(mail_app, admin, world, smtp_server):
    confirmed(admin, "/runs", {"month": MONTH, "scope": "all", "start": "1"})
    smtp_server.wait_for(3)
    with mail_app.app_context():
        me = workers.Consumer("worker-1", 4242, "thread", 2, True, utcnow())
        workers.beat(get_session(), me, 0, None)
    response = mail_app.test_client().get("/metrics", environ_base=LOCAL)
    assert response.status_code == 200 and response.mimetype == "text/plain"
    got = samples(response)
    assert got[("quiz_reports_deliveries", (("state", "sent"),))] == 3
    assert got[("quiz_reports_deliveries", (("state", "failed"),))] == 0
    assert got[("quiz_reports_runs", (("state", "done"),))] == 1
    assert got[("quiz_reports_send_latency_seconds_count", ())] == 3
    assert got[("quiz_reports_send_latency_seconds_bucket", (("le", "+Inf"),))] == 3
    assert ("quiz_reports_queue_tasks", (("kind", "waiting"),)) in got
    worker = (("host", "worker-1"), ("pid", "4242"))
    assert 0 <= got[("quiz_reports_worker_heartbeat_age_seconds", worker)] < 30


def test_metrics_are_for_this_machine_unless_a_token_is_set(app, client):
    assert client.get("/metrics", environ_base=ELSEWHERE).status_code == 403
    reconfigure(app, METRICS_TOKEN="scrape-me")
    assert client.get("/metrics", environ_base=LOCAL).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert client.get("/metrics", headers=wrong, environ_base=ELSEWHERE).status_code == 401
    right = {"Authorization": "Bearer scrape-me"}
    response = client.get("/metrics", headers=right, environ_base=ELSEWHERE)
    assert response.status_code == 200 and b"quiz_reports_runs" in response.data


def test_forwarded_addresses_count_only_behind_trusted_proxies(client, tmp_path):
    forwarded = {"X-Forwarded-For": "203.0.113.9"}
    # No proxy is trusted by default: a client cannot pass for this machine or another.
    assert client.get("/metrics", headers=forwarded, environ_base=LOCAL).status_code == 200
    with open_app(tmp_path / "behind", TRUSTED_PROXIES=1) as app:
        behind = app.test_client()
        assert behind.get("/metrics", headers=forwarded, environ_base=LOCAL).status_code == 403
