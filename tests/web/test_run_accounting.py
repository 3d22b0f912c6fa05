"""The run page's progress card, the overview's runs and task-status add up for cancelled,
paused and untried runs: the bar in parts, success over what was attempted, sends-only rates."""

from datetime import timedelta
from uuid import uuid4

from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update

from tests.helpers.factories import MONTH
from tests.helpers.web import bearer
from tests.helpers.web import htmx
from tests.helpers.web import text_of
from webapp.core import progress
from webapp.core.clock import utcnow
from webapp.core.lifecycle import runs
from webapp.core.models import Delivery
from webapp.core.models import ReportRun
from webapp.core.models import User
from webapp.core.states import RUN_CLOSED
from webapp.core.states import RunState
from webapp.web.services import get_session
from webapp.web.services import store


def run_with(app, state: RunState, **counts: int) -> tuple[int, str]:
    """A December 2024 run in `state` that started 20 s ago, its ledger holding `counts`
    deliveries by state (of new learners); closed runs have their counts frozen. (id, task_id)"""
    with app.app_context():
        s = get_session()
        now = utcnow()
        run = ReportRun(task_id=str(uuid4()), month=MONTH, scope="all", state=state)
        run.started_at = now - timedelta(seconds=20)
        run.finished_at = now if state in RUN_CLOSED else None
        s.add(run)
        s.flush()
        states = [name for name, n in counts.items() for _ in range(n)]
        names = [f"tally{i}" for i in range(len(states))]
        s.execute(insert(User), [{"username": n, "email": f"{n}@example.test"} for n in names])
        ids = s.scalars(select(User.id).where(User.username.in_(names)).order_by(User.id)).all()
        rows = [
            {
                "user_id": uid,
                "month": MONTH,
                "run_id": run.id,
                "state": state_,
                "attempts": 1,
                "message_id": f"<t{uid}@quiz.example>",
            }
            for uid, state_ in zip(ids, states, strict=True)
        ]
        s.execute(insert(Delivery), rows)
        s.commit()
        if state in RUN_CLOSED:
            runs.freeze_counts(s, run.id)
        return run.id, run.task_id


def card(client, run_id: int, seen: str = ""):
    """The progress fragment as htmx asks for it."""
    return htmx(client, "GET", f"/runs/{run_id}/progress", query_string={"seen": seen})


def test_a_run_cancelled_after_2_of_200_reads_as_cancelled_not_as_a_success(mail_app, admin):
    run_id, _ = run_with(mail_app, RunState.CANCELLED, sent=2, cancelled=198)
    fragment = card(admin, run_id)
    html, words = fragment.get_data(as_text=True), text_of(fragment)
    assert "2 sent, 198 cancelled — 200 of 200 decided" in words
    assert "finished" not in words.split("Progress", 1)[1].split("Sent")[0]
    assert "Success: 100 % (2 sent of 2 attempted)." in words
    # Two parts, each its own class: 1 % sent, 99 % cancelled; no percent beside the bar.
    assert '<rect class="seg part-sent" x="0.0" y="0" width="10.0" height="10"/>' in html
    assert '<rect class="seg part-cancelled" x="10.0" y="0" width="990.0" height="10"/>' in html
    assert "bar-percent" not in html
    assert 'aria-valuetext="200 of 200 decided"' in html
    # Two sends in 20 s: the 198 cancelled are no throughput.
    assert "Sending rate: 6 reports/min" in words
    assert "Time left" not in words
    assert "hx-trigger" not in html  # closed: the card stops asking

    overview = text_of(admin.get("/"))
    assert "Cancelled 2 0 0 198 200 100 % of 2 attempted" in overview


def test_a_paused_card_keeps_refreshing_until_its_report_in_flight_has_landed(mail_app, admin):
    run_id, _ = run_with(mail_app, RunState.PAUSED, sent=1, sending=1, pending=198)
    with mail_app.app_context():  # what the pause published: one sent, one in flight
        s = get_session()
        progress.publish(store(), s, s.get(ReportRun, run_id))
    first = card(admin, run_id, seen="1:paused")
    assert 'hx-trigger="every 1s"' in first.get_data(as_text=True)
    assert "1 sent — 1 of 200 decided (0.5 %)" in text_of(first)
    assert "Time left: none while paused" in text_of(first)
    assert "HX-Trigger" not in first.headers

    with mail_app.app_context():  # the report in flight is accepted after the pause
        s = get_session()
        s.execute(update(Delivery).where(Delivery.state == "sending").values(state="sent"))
        s.commit()
    second = card(admin, run_id, seen="1:paused")
    assert "2 sent — 2 of 200 decided (1 %)" in text_of(second)
    assert "Success: 100 % (2 sent of 2 attempted)." in text_of(second)
    # The table below reloads, and with nothing in flight the card asks again slowly
    # (someone may resume the run elsewhere).
    assert second.headers["HX-Trigger"] == "deliveries-changed"
    assert 'hx-trigger="every 5s"' in second.get_data(as_text=True)
    page = text_of(admin.get(f"/runs/{run_id}"))
    assert "2 sent — 2 of 200 decided" in page


def test_a_cancelled_card_asks_again_until_its_report_in_flight_lands(mail_app, admin):
    run_id, _ = run_with(mail_app, RunState.CANCELLED, sent=1, sending=1, cancelled=8)
    assert 'hx-trigger="every 1s"' in card(admin, run_id).get_data(as_text=True)
    with mail_app.app_context():
        s = get_session()
        s.execute(update(Delivery).where(Delivery.state == "sending").values(state="sent"))
        s.commit()
        runs.freeze_counts(s, run_id)
    final = card(admin, run_id, seen="9:cancelled")
    assert "hx-trigger" not in final.get_data(as_text=True)
    assert "2 sent, 8 cancelled — 10 of 10 decided" in text_of(final)


def test_a_run_where_nothing_was_attempted_says_so(mail_app, admin):
    run_id, _ = run_with(mail_app, RunState.CANCELLED, skipped=3, cancelled=5)
    words = text_of(card(admin, run_id))
    assert "3 skipped, 5 cancelled — 8 of 8 decided" in words
    assert "Success: no report was attempted." in words
    assert "Sending rate: —" in words
    overview = text_of(admin.get("/"))
    assert "Cancelled 0 0 3 5 8 no report attempted" in overview
    assert "0 %" not in overview


def test_an_unknown_outcome_is_attempted_but_no_success(mail_app, admin):
    run_id, _ = run_with(mail_app, RunState.DONE, sent=3, failed=1, unknown=1)
    words = text_of(card(admin, run_id))
    assert "3 sent, 1 failed, 1 with an unknown outcome — 5 of 5 decided" in words
    assert "Success: 60 % (3 sent of 5 attempted)." in words


def test_task_status_keeps_its_fields_and_adds_sends_only_figures(mail_app, api_world):
    _, task_id = run_with(mail_app, RunState.CANCELLED, sent=2, cancelled=198)
    path = f"/scheduled/task-status/{task_id}"
    body = bearer(mail_app.test_client(), "GET", path, api_world["token"]).get_json()
    assert (body["state"], body["current"], body["total"]) == ("FAILURE", 200, 200)
    assert body["result"]["summary"]["success_rate"] == 100.0
    assert body["attempted"] == 2
    assert body["rate_sent_per_second"] == 0.1
    assert body["eta_seconds"] is None


def test_task_status_of_a_run_with_nothing_attempted(mail_app, api_world):
    _, task_id = run_with(mail_app, RunState.PAUSED, pending=4)
    path = f"/scheduled/task-status/{task_id}"
    body = bearer(mail_app.test_client(), "GET", path, api_world["token"]).get_json()
    assert (body["attempted"], body["rate_sent_per_second"], body["eta_seconds"]) == (0, None, None)
