"""Mass actions ask first: starting a run, cancelling one, sending its failures again.

Without JavaScript: the POST shows the question, its button answers it, and only the answer
acts; an answer to a question whose facts have changed is asked again. With htmx, the same
panel comes alone. The JSON API does not ask.
"""

import pytest
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update

from tests.helpers.apps import open_app
from tests.helpers.apps import with_session
from tests.helpers.factories import ADMIN_EMAIL
from tests.helpers.factories import MONTH
from tests.helpers.factories import PASSWORD
from tests.helpers.factories import make_bulk_run
from tests.helpers.factories import make_learner_world
from tests.helpers.factories import make_quiz
from tests.helpers.factories import make_score
from tests.helpers.factories import make_user
from tests.helpers.web import answer_of
from tests.helpers.web import confirmed
from tests.helpers.web import form_fields
from tests.helpers.web import htmx
from tests.helpers.web import text_of
from webapp.core import actions
from webapp.core import launch
from webapp.core import suppression
from webapp.core.audit import Actor
from webapp.core.models import Delivery
from webapp.core.models import ReportRun
from webapp.core.models import User
from webapp.core.months import Month
from webapp.core.states import SuppressionReason
from webapp.web.services import get_session

START = {"month": MONTH, "scope": "all", "start": "start"}
HX = {"HX-Request": "true"}
ADMIN = Actor("the test")


def runs_count(app) -> int:
    return with_session(app, lambda s: s.scalar(select(func.count(ReportRun.id))))


def open_run(app) -> int:
    """December's all-learner run, queued but never handed to a worker (it stays open)."""
    return with_session(
        app, lambda s: launch.start_all(s, Month.parse(MONTH), mail_from="r@quiz.example").id
    )


def another_learner(app, name="Zoë Ødegård", username="zoe") -> int:
    """A fourth learner with a December attempt: a start would mail one more."""

    def add(s):
        user = make_user(s, full_name=name, username=username)
        make_score(s, user, make_quiz(s, name="Quiz 9"), Month.parse(MONTH).start, 5, 10)
        s.commit()
        return user.id

    return with_session(app, add)


def suppress(app, user_id: int) -> None:
    def add(s):
        user = s.get(User, user_id)
        suppression.add(s, user_id, user.email, SuppressionReason.UNSUBSCRIBED, "", ADMIN)
        s.commit()

    with_session(app, add)


# --- Starting a run -------------------------------------------------------------------------


def test_start_asks_first_with_the_real_numbers_and_sends_nothing(mail_app, admin, smtp_server):
    question = admin.post("/runs", data={**START, "subject": "December news"})
    assert question.status_code == 200
    words = text_of(question)
    assert "Send 3 reports for December 2024?" in words
    assert "3 learners get their report for December 2024 by email; 1 learner is skipped." in words
    assert "Subject December news" in words
    assert "Why learners are skipped No email address on file (1 learner)" in words
    assert "Send 3 reports Go back" in words
    html = question.get_data(as_text=True)
    assert "<html" in html and 'name="confirmed" value="' in html
    assert runs_count(mail_app) == 0 and smtp_server.messages == []

    started = admin.post("/runs", data=answer_of(question))
    assert started.status_code == 303 and started.headers["Location"] == "/runs/1"
    assert len(smtp_server.wait_for(3)) == 3
    assert with_session(mail_app, lambda s: s.get(ReportRun, 1).subject) == "December news"


def test_with_htmx_the_question_is_the_panel_alone_and_its_answer_redirects(mail_app, admin):
    question = htmx(admin, "POST", "/runs", data=START)
    html = question.get_data(as_text=True)
    assert question.status_code == 200 and "<html" not in html
    assert html.lstrip().startswith('<section id="confirm-panel"')
    assert 'hx-post="/runs" hx-target="#confirm-panel"' in html
    assert "autofocus" in html and "HX-Request" in question.headers["Vary"]
    assert runs_count(mail_app) == 0
    answered = htmx(admin, "POST", "/runs", data=answer_of(question))
    assert answered.headers["HX-Redirect"] == "/runs/1"


def test_a_start_without_its_answer_never_acts(mail_app, admin, smtp_server):
    for data in (START, {**START, "confirmed": ""}, {**START, "confirmed": "0" * 64}):
        response = admin.post("/runs", data=data)
        assert response.status_code in (200, 409)
        assert "Send 3 reports for December 2024?" in text_of(response)
    assert runs_count(mail_app) == 0 and smtp_server.messages == []


def test_an_answer_to_a_changed_plan_is_asked_again(mail_app, admin, smtp_server):
    answer = answer_of(admin.post("/runs", data=START))
    another_learner(mail_app)
    again = admin.post("/runs", data=answer)
    assert again.status_code == 409
    words = text_of(again)
    assert "Something changed since you were asked, so nothing was done." in words
    assert "Send 4 reports for December 2024?" in words
    assert runs_count(mail_app) == 0

    started = admin.post("/runs", data=answer_of(again))
    assert started.status_code == 303
    assert len(smtp_server.wait_for(4)) == 4


def test_the_same_count_of_other_learners_is_a_changed_plan(mail_app, admin, world):
    answer = answer_of(admin.post("/runs", data=START))
    suppress(mail_app, world["learner_ids"][0])  # one out ...
    another_learner(mail_app)  # ... and one in: still 3 reports
    again = admin.post("/runs", data=answer)
    assert again.status_code == 409 and "Send 3 reports" in text_of(again)
    assert runs_count(mail_app) == 0


def test_an_answer_with_other_options_than_asked_is_asked_again(mail_app, admin):
    answer = answer_of(admin.post("/runs", data={**START, "subject": "Shown"}))
    again = admin.post("/runs", data={**answer, "subject": "Swapped"})
    assert again.status_code == 409 and "Subject Swapped" in text_of(again)
    assert runs_count(mail_app) == 0


def test_nothing_to_send_is_said_on_the_form_without_asking(mail_app, admin, smtp_server):
    confirmed(admin, "/runs", START)
    smtp_server.wait_for(3)
    for data in (START, {**START, "confirmed": "0" * 64}):
        response = admin.post("/runs", data=data)
        assert response.status_code == 200
        assert "Nothing to send for December 2024" in text_of(response)
        assert "confirm-panel" not in response.get_data(as_text=True)
    assert runs_count(mail_app) == 1


def test_a_month_not_over_is_refused_before_anything_is_asked(mail_app, admin):
    current = {**START, "month": str(Month.current())}
    response = admin.post("/runs", data=current)
    assert response.status_code == 422 and "is not over yet" in text_of(response)
    assert "confirm-panel" not in response.get_data(as_text=True)
    dry = admin.post("/runs", data={**current, "start": "", "dry_run": "dry_run"})
    assert "Send these" not in text_of(dry) and runs_count(mail_app) == 0


def test_a_month_with_a_run_going_is_refused_before_anything_is_asked(mail_app, admin):
    run_id = open_run(mail_app)
    response = admin.post("/runs", data=START)
    assert response.status_code == 409 and f"Open run #{run_id}" in text_of(response)


def test_go_back_fills_the_start_form_in_again(admin):
    options = {**START, "subject": "Ünïcode & <more>", "intro": "Line one\r\nLine two"}
    question = admin.post("/runs", data=options)
    html = question.get_data(as_text=True)
    back = html.split('class="btn btn-secondary" href="')[1].split('"')[0].replace("&amp;", "&")
    assert back.startswith("/?") and back.endswith("#start-run")
    form = admin.get(back.split("#")[0]).get_data(as_text=True)
    assert 'value="Ünïcode &amp; &lt;more&gt;"' in form
    assert "Line one\r\nLine two</textarea>" in form or "Line one\nLine two</textarea>" in form


def test_a_long_intro_stays_out_of_the_link_and_the_question_says_so(admin):
    question = admin.post("/runs", data={**START, "intro": "ü" * 1900})
    assert "The intro is too long to carry back in the link" in text_of(question)
    html = question.get_data(as_text=True)
    back = html.split('class="btn btn-secondary" href="')[1].split('"')[0]
    assert "intro=" not in back and len(back) < 500


def test_one_learner_is_asked_by_name_and_again_when_sent_before(mail_app, admin, world):
    one = {"month": MONTH, "scope": "one", "learner": world["emails"][1], "start": "start"}
    words = text_of(admin.post("/runs", data=one))
    assert "Send Tomás Ortega’s report for December 2024?" in words
    assert f"It goes to {world['emails'][1]}." in words
    assert "Send the report Go back" in words
    assert confirmed(admin, "/runs", one).status_code == 303
    words = text_of(admin.post("/runs", data=one))
    assert "Send Tomás Ortega’s report for December 2024 again?" in words
    assert "It was sent on" in words and "Send it again" in words


def test_a_learner_who_cannot_be_mailed_is_refused_before_anything_is_asked(mail_app, admin):
    one = {"month": MONTH, "scope": "one", "learner": "Nadia Nomail", "start": "start"}
    response = admin.post("/runs", data=one)
    assert response.status_code == 422 and "cannot be mailed" in text_of(response)
    assert "confirm-panel" not in response.get_data(as_text=True)


def test_the_api_starts_without_asking(mail_app, api_world):
    client = mail_app.test_client()
    response = client.post(
        "/scheduled/generate-all-monthly-reports",
        json={"month_year": MONTH},
        headers={"Authorization": f"Bearer {api_world['token']}"},
    )
    assert response.status_code == 202 and response.get_json()["total"] == 3


def test_the_answer_needs_its_csrf_token(tmp_path):
    with open_app(tmp_path, WTF_CSRF_ENABLED=True) as app:
        with app.app_context():
            make_learner_world(get_session())
        client = app.test_client()
        page = client.get("/login").get_data(as_text=True)
        token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
        data = {"email": ADMIN_EMAIL, "password": PASSWORD, "csrf_token": token}
        assert client.post("/login", data=data).status_code == 303
        overview = client.get("/").get_data(as_text=True)
        token = overview.split('name="csrf_token" value="')[1].split('"')[0]
        question = client.post("/runs", data={**START, "csrf_token": token})
        answer = answer_of(question)
        assert answer["csrf_token"]
        refused = client.post("/runs", data={**answer, "csrf_token": ""})
        assert refused.status_code == 400 and runs_count(app) == 0
        assert client.post("/runs", data=answer).status_code == 303
        assert runs_count(app) == 1


# --- A dry run's "Send these N" -------------------------------------------------------------


def test_a_dry_run_offers_send_these_n_which_asks_first(mail_app, admin, smtp_server):
    options = {"month": MONTH, "scope": "all", "subject": "Hi & bye"}
    dry = admin.post("/runs", data={**options, "dry_run": "dry_run"})
    assert "Send these 3 reports" in text_of(dry)
    button = answer_of_dry_run(dry)
    assert button == {**options, "expected": "3", "csrf_token": button["csrf_token"]}
    question = admin.post("/runs", data={**button, "start": "start"})
    assert question.status_code == 200
    words = text_of(question)
    assert "Send 3 reports for December 2024?" in words and "Subject Hi & bye" in words
    assert "The dry run listed" not in words
    assert runs_count(mail_app) == 0 and smtp_server.messages == []
    assert admin.post("/runs", data=answer_of(question)).status_code == 303


def test_send_these_n_says_when_the_plan_changed_since_the_dry_run(mail_app, admin):
    dry = admin.post("/runs", data={"month": MONTH, "scope": "all", "dry_run": "dry_run"})
    another_learner(mail_app)
    question = admin.post("/runs", data={**answer_of_dry_run(dry), "start": "start"})
    words = text_of(question)
    assert "The dry run listed 3 reports; the plan has 4 now" in words
    assert "Send 4 reports for December 2024?" in words
    assert runs_count(mail_app) == 0


def test_a_dry_run_with_nobody_to_mail_offers_no_send_button(admin, smtp_server):
    confirmed(admin, "/runs", START)
    smtp_server.wait_for(3)
    dry = admin.post("/runs", data={"month": MONTH, "scope": "all", "dry_run": "dry_run"})
    assert "0 would be mailed" in text_of(dry)
    assert "Send these" not in text_of(dry)
    assert "Download the list (CSV)" in text_of(dry)


def answer_of_dry_run(dry) -> dict[str, str]:
    """What the dry run's "Send these N" form posts (its button adds start=start)."""
    return form_fields(dry, 'class="button-row dry-run-actions"')


# --- Cancelling a run -----------------------------------------------------------------------


def test_cancel_asks_first_and_says_what_stays_sent(mail_app, admin, smtp_server):
    run_id = open_run(mail_app)

    def one_sent(s):
        s.execute(update(Delivery).where(Delivery.id == 1).values(state="sent"))
        s.commit()

    with_session(mail_app, one_sent)
    question = admin.post(f"/runs/{run_id}/cancel")
    assert question.status_code == 200
    words = text_of(question)
    assert f"Cancel run #{run_id}?" in words
    assert "2 reports not yet sent will not be sent; 1 already sent stays sent." in words
    assert "Sending goes on while you decide" in words
    assert f"Cancel run #{run_id} Go back" in words
    assert with_session(mail_app, lambda s: s.get(ReportRun, run_id).state) == "queued"

    done = admin.post(f"/runs/{run_id}/cancel", data=answer_of(question))
    assert done.status_code == 303
    assert with_session(mail_app, lambda s: s.get(ReportRun, run_id).state) == "cancelled"
    assert smtp_server.messages == []


def test_cancel_of_a_run_paused_since_the_question_is_asked_again(mail_app, admin):
    run_id = open_run(mail_app)
    question = htmx(admin, "POST", f"/runs/{run_id}/cancel")
    assert question.get_data(as_text=True).lstrip().startswith('<section id="confirm-panel"')
    assert "3 reports not yet sent will not be sent; none has gone out yet." in text_of(question)
    with_session(mail_app, lambda s: actions.pause(s, s.get(ReportRun, run_id)))
    again = htmx(admin, "POST", f"/runs/{run_id}/cancel", data=answer_of(question))
    assert again.status_code == 409 and "Something changed since you were asked" in text_of(again)
    assert "Sending goes on" not in text_of(again)  # it is paused now
    assert with_session(mail_app, lambda s: s.get(ReportRun, run_id).state) == "paused"
    done = htmx(admin, "POST", f"/runs/{run_id}/cancel", data=answer_of(again))
    assert 'data-state="cancelled"' in done.get_data(as_text=True)


def test_cancel_of_a_finished_run_says_it_does_not_apply(admin, smtp_server):
    confirmed(admin, "/runs", START)
    smtp_server.wait_for(3)
    response = admin.post("/runs/1/cancel")
    assert response.status_code == 409 and "This run is done" in text_of(response)


# --- Sending the failures again -------------------------------------------------------------


@pytest.fixture
def failing_run(mail_app, world) -> int:
    """A running run of six learners, three of whose reports failed."""
    return with_session(mail_app, lambda s: make_bulk_run(s, 6, failed_every=2))


def test_retry_failed_asks_first_and_lists_who_failed_and_why(mail_app, admin, failing_run):
    question = admin.post(f"/runs/{failing_run}/retry-failed")
    words = text_of(question)
    assert "Send again to the 3 learners whose report failed?" in words
    assert "Failed (3) bulk0 — mailbox unavailable (550 5.1.1 no such user)" in words
    assert "Send 3 reports again Go back" in words

    def states(s):
        return list(s.scalars(select(Delivery.state).where(Delivery.run_id == failing_run)))

    assert with_session(mail_app, states).count("failed") == 3

    done = admin.post(f"/runs/{failing_run}/retry-failed", data=answer_of(question))
    assert done.status_code == 303
    assert "failed" not in with_session(mail_app, states)


def test_retry_failed_with_more_failures_since_the_question_is_asked_again(
    mail_app, admin, failing_run
):
    question = admin.post(f"/runs/{failing_run}/retry-failed")

    def one_more(s):
        sent = s.scalar(select(Delivery.id).where(Delivery.state == "sent").limit(1))
        s.execute(update(Delivery).where(Delivery.id == sent).values(state="failed"))
        s.commit()

    with_session(mail_app, one_more)
    again = admin.post(f"/runs/{failing_run}/retry-failed", data=answer_of(question))
    assert again.status_code == 409
    assert "Send again to the 4 learners whose report failed?" in text_of(again)
    failed = with_session(
        mail_app,
        lambda s: s.scalar(select(func.count()).where(Delivery.state == "failed")),
    )
    assert failed == 4


def test_one_failure_is_named_in_the_question(mail_app, admin, world):
    run_id = with_session(mail_app, lambda s: make_bulk_run(s, 2, failed_every=2))
    words = text_of(admin.post(f"/runs/{run_id}/retry-failed"))
    assert "Send again to bulk0, whose report failed?" in words
    assert "The report for December 2024 goes out again" in words
    assert "Send 1 report again" in words


def test_retry_with_nothing_failed_says_so_without_asking(mail_app, admin):
    run_id = open_run(mail_app)
    response = admin.post(f"/runs/{run_id}/retry-failed")
    assert response.status_code == 303
    assert "No failed reports to retry." in text_of(admin.get(f"/runs/{run_id}"))
