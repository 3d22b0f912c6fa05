"""GET /metrics in Prometheus' text format, for a scraper: the ledger's figures
(core/figures.py) and the queue's length, read at scrape time.

Guarded: with METRICS_TOKEN set, a scraper sends `Authorization: Bearer <token>`; without
it, only this machine (a loopback address) may read them.
"""

import hmac

from flask import Blueprint
from flask import Response
from flask import request
from prometheus_client import CollectorRegistry
from prometheus_client import generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.core import HistogramMetricFamily
from werkzeug.exceptions import Forbidden
from werkzeug.exceptions import Unauthorized

from webapp import enqueue
from webapp.core import figures
from webapp.core.clock import utcnow
from webapp.web.services import db_session
from webapp.web.services import settings

bp = Blueprint("metrics", __name__)

LOOPBACK = ("127.0.0.1", "::1")


def _allowed() -> None:
    token = settings().METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise Unauthorized("Send the METRICS_TOKEN as 'Authorization: Bearer <token>'.")
    elif request.remote_addr not in LOOPBACK:
        raise Forbidden("Metrics are read from this machine only, unless METRICS_TOKEN is set.")


class _LedgerCollector:
    """One scrape's metric families, from figures read once."""

    def __init__(self, now_figures: figures.Figures, queued: int, scheduled: int) -> None:
        self.figures, self.queued, self.scheduled = now_figures, queued, scheduled

    def collect(self):
        f = self.figures
        deliveries = GaugeMetricFamily(
            "quiz_reports_deliveries", "Deliveries in the ledger by state.", labels=["state"]
        )
        for state, n in f.deliveries.items():
            deliveries.add_metric([state], n)
        yield deliveries
        runs = GaugeMetricFamily("quiz_reports_runs", "Runs by state.", labels=["state"])
        for state, n in f.runs.items():
            runs.add_metric([state], n)
        yield runs
        failures = GaugeMetricFamily(
            "quiz_reports_smtp_failures",
            "Deliveries whose last SMTP reply was a failure, by their state (failed, unknown, "
            "pending for a retry) and the reply's code.",
            labels=["state", "code"],
        )
        for (state, code), n in sorted(f.smtp_failures.items()):
            failures.add_metric([state, str(code)], n)
        yield failures
        yield self._waits()
        queue = GaugeMetricFamily(
            "quiz_reports_queue_tasks", "Tasks in the queue.", labels=["kind"]
        )
        queue.add_metric(["waiting"], self.queued)
        queue.add_metric(["scheduled"], self.scheduled)
        yield queue
        beats = GaugeMetricFamily(
            "quiz_reports_worker_heartbeat_age_seconds",
            "Seconds since each consumer's last heartbeat.",
            labels=["host", "pid"],
        )
        now = utcnow()
        for host, pid, beat_at in f.heartbeats:
            beats.add_metric([host, str(pid)], round((now - beat_at).total_seconds(), 1))
        yield beats

    def _waits(self) -> HistogramMetricFamily:
        f = self.figures
        buckets = [(str(b), n) for b, n in zip(figures.WAIT_BUCKETS, f.wait_buckets, strict=True)]
        buckets.append(("+Inf", f.wait_count))
        histogram = HistogramMetricFamily(
            "quiz_reports_send_latency_seconds",
            "Seconds from a run's start to each report's 250, reports sent in the last day.",
        )
        histogram.add_metric([], buckets, sum_value=f.wait_sum)
        return histogram


@bp.get("/metrics")
def metrics():
    """The figures in Prometheus' text format."""
    _allowed()
    now_figures = figures.read(db_session)
    db_session.rollback()
    queued, scheduled = enqueue.waiting()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_LedgerCollector(now_figures, queued, scheduled))
    return Response(generate_latest(registry), mimetype="text/plain; version=0.0.4")
