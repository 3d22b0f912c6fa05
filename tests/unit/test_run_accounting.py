"""A run's figures add up: cancelled and skipped reports are no throughput and no success,
success is counted over what was attempted, and a paused run's time left is not guessed."""

from datetime import timedelta

from webapp.core.clock import utcnow
from webapp.core.models import ReportRun
from webapp.core.progress import snapshot_of
from webapp.core.states import DeliveryState
from webapp.core.states import RunState


def _run(state: RunState, seconds: float = 10.0, closed: bool = False) -> ReportRun:
    """A run of December 2024 that started `seconds` ago (and closed just now if `closed`)."""
    now = utcnow()
    run = ReportRun(id=7, task_id="t-7", month="2024-12", scope="all", state=state)
    run.created_at = run.started_at = now - timedelta(seconds=seconds)
    run.finished_at = now if closed else None
    return run


def _counts(**given: int) -> dict[str, int]:
    counts = dict.fromkeys(map(str, DeliveryState), 0)
    counts.update(given)
    return counts


def test_a_run_cancelled_after_2_of_200_is_no_success_and_no_throughput():
    snap = snapshot_of(_run(RunState.CANCELLED, closed=True), _counts(sent=2, cancelled=198))
    assert (snap.total, snap.done, snap.attempted) == (200, 200, 2)
    assert snap.success_percent == 100.0  # of the 2 attempted, said with its denominator
    # Two sends in ten seconds: the 198 cancelled are not reports per second.
    assert snap.rate_per_second == 0.2
    assert snap.eta_seconds is None
    assert [(p.state, p.count) for p in snap.parts] == [("sent", 2), ("cancelled", 198)]


def test_a_paused_run_with_one_in_flight_counts_its_sends_and_guesses_no_time_left():
    counts = _counts(sent=1, sending=1, pending=198)
    snap = snapshot_of(_run(RunState.PAUSED), counts)
    assert snap.in_flight == 1
    assert snap.attempted == 1 and snap.success_percent == 100.0
    assert snap.rate_per_second == 0.1
    assert snap.eta_seconds is None  # nothing moves until someone resumes it
    assert snap.percent == 0.5


def test_a_running_runs_rate_and_time_left_count_sends_not_skips():
    counts = _counts(sent=8, failed=1, unknown=1, skipped=30, pending=60)
    snap = snapshot_of(_run(RunState.RUNNING), counts)
    assert snap.rate_per_second == 1.0  # 10 attempted in 10 s; the 30 skipped were no sends
    assert snap.eta_seconds == 60
    assert snap.success_percent == 80.0
    assert snap.success_rate == 80.0
    assert [p.state for p in snap.parts] == ["sent", "failed", "skipped", "unknown"]


def test_nothing_attempted_has_no_success_figure():
    snap = snapshot_of(_run(RunState.CANCELLED, closed=True), _counts(skipped=3, cancelled=5))
    assert snap.attempted == 0
    assert snap.success_percent is None
    assert snap.success_rate == 0.0  # the API's figure keeps its meaning
    assert snap.rate_per_second is None
    assert [(p.state, p.count) for p in snap.parts] == [("skipped", 3), ("cancelled", 5)]


def test_the_bar_parts_fill_the_bar_in_order_and_leave_the_open_ones_empty():
    snap = snapshot_of(_run(RunState.RUNNING), _counts(sent=50, failed=25, cancelled=0, pending=25))
    assert [(p.state, p.x, p.width) for p in snap.parts] == [
        ("sent", 0.0, 500.0),
        ("failed", 500.0, 250.0),
    ]
    assert sum(p.width for p in snap.parts) == 750.0


def test_a_snapshot_stored_before_these_figures_still_reads():
    snap = snapshot_of(_run(RunState.RUNNING), _counts(sent=1, pending=1))
    again = type(snap).from_store(snap.to_store())
    assert again == snap and again.parts == snap.parts
