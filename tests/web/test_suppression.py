"""The suppression list: runs, dry runs and Send skip a listed learner with the reason in
words and mail them nothing; a 550 5.1.1 at RCPT lists the address at once; the admin page
lists, adds and lifts, audited; only admins reach it."""

from datetime import datetime

import pytest
from sqlalchemy import select

from tests.helpers.apps import with_session
from tests.helpers.audit import suppression_trail
from tests.helpers.database import statements_run
from tests.helpers.factories import ADMIN_EMAIL
from tests.helpers.factories import MONTH
from tests.helpers.factories import make_user
from tests.helpers.smtp import FaultPlan
from tests.helpers.web import bearer
from tests.helpers.web import confirmed
from tests.helpers.web import htmx
from tests.helpers.web import text_of
from webapp.core import launch
from webapp.core import suppression
from webapp.core.audit import Actor
from webapp.core.audit import AuditAction
from webapp.core.models import AuditEntry
from webapp.core.models import Delivery
from webapp.core.models import ReportRun
from webapp.core.models import Suppression
from webapp.core.models import User
from webapp.core.months import Month
from webapp.core.states import SuppressionReason
from webapp.web import suppression as suppression_page
from webapp.web.services import get_session
from webapp.web.services import ring

ADMIN = Actor(ADMIN_EMAIL, 1, "127.0.0.1")


def listed(app, user_id: int, reason=SuppressionReason.UNSUBSCRIBED, when=None) -> None:
    """Put the learner on the list, as of `when` (now by default)."""

    def add(s):
        user = s.get(User, user_id)
        assert suppression.add(s, user_id, user.email, reason, "", ADMIN)
        if when is not None:
            s.query(Suppression).filter_by(user_id=user_id).update({"created_at": when})
        s.commit()

    with_session(app, add)


def entries(app) -> dict[int, tuple]:
    """learner -> (reason, detail, added by)."""
    rows = with_session(
        app,
        lambda s: s.execute(
            select(
                Suppression.user_id, Suppression.reason, Suppression.detail, Suppression.added_by
            )
        ).all(),
    )
    return {uid: (reason, detail, by) for uid, reason, detail, by in rows}


def audit_of(app) -> list[tuple]:
    """(action, actor, target, detail) of each suppression entry of the trail, oldest first."""
    e = AuditEntry
    return suppression_trail(app, e.action, e.actor, e.target, e.detail)


def runs_count(app) -> int:
    return with_session(app, lambda s: len(s.scalars(select(ReportRun.id)).all()))


def post_api(client, token, path, **body):
    return bearer(client, "POST", f"/scheduled/{path}", token, json={"month_year": MONTH, **body})


# --- Runs, dry runs and Send ------------------------------------------------------------------


def test_a_dry_run_skips_a_listed_learner_with_the_reason_in_words(mail_app, api_world):
    priya, tomas, amara = api_world["learner_ids"]
    listed(mail_app, priya, when=datetime(2026, 12, 3, 9, 30))
    listed(mail_app, tomas, SuppressionReason.HARD_BOUNCE, datetime(2026, 11, 2))
    r = post_api(
        mail_app.test_client(), api_world["token"], "generate-all-monthly-reports", dry_run=True
    )
    data = r.get_json()
    assert [x["user_id"] for x in data["to_send"]] == [amara]
    reasons = {x["user_id"]: x["reason"] for x in data["skipped"]}
    assert reasons[priya] == "unsubscribed on 3 Dec 2026"
    assert reasons[tomas] == "the address bounced for good on 2 Nov 2026 (hard bounce)"
    # A learner without an address is skipped for that, listed or not.
    assert reasons[api_world["no_email_id"]] == "no email address on file"


def test_the_dashboards_dry_run_shows_the_reason_and_counts_them_by_kind(mail_app, admin, world):
    priya, tomas, _amara = world["learner_ids"]
    listed(mail_app, priya, SuppressionReason.UNSUBSCRIBED, datetime(2026, 12, 3))
    listed(mail_app, tomas, SuppressionReason.UNSUBSCRIBED, datetime(2026, 12, 4))
    response = admin.post("/runs", data={"month": MONTH, "scope": "all", "dry_run": "1"})
    words = text_of(response)
    # One line a kind, not one a day; each learner with their own date.
    assert "Why learners are skipped 2 unsubscribed 1 no email address on file" in words
    assert "unsubscribed on 3 Dec 2026" in words and "unsubscribed on 4 Dec 2026" in words


def test_a_run_mails_nobody_on_the_list(mail_app, api_world, smtp_server):
    priya = api_world["learner_ids"][0]
    listed(mail_app, priya)
    client = mail_app.test_client()
    r = post_api(client, api_world["token"], "generate-all-monthly-reports")
    assert r.status_code == 202 and r.get_json()["total"] == 2
    received = smtp_server.wait_for(2)
    assert sorted(m.rcpt_tos[0] for m in received) == sorted(api_world["emails"][1:])
    # Not even a delivery row: the run is for the others alone.
    rows = with_session(mail_app, lambda s: s.scalars(select(Delivery.user_id)).all())
    assert sorted(rows) == api_world["learner_ids"][1:]


def test_a_learner_listed_after_the_run_started_is_skipped_with_the_reason(
    mail_app, world, smtp_server
):
    priya, *others = world["learner_ids"]
    with mail_app.app_context():
        s = get_session()
        run = launch.start_all(s, Month.parse(MONTH), mail_from="Quiz Reports <r@quiz.example>")
        run_id = run.id
        # Between the start and the worker: say, a click on last month's link.
        suppression.unsubscribe(s, priya, "on the unsubscribe page", Actor("learner"))
        ring(run)
    received = smtp_server.wait_for(2)
    assert sorted(m.rcpt_tos[0] for m in received) == sorted(world["emails"][1:])
    with mail_app.app_context():
        s = get_session()
        delivery = s.scalar(select(Delivery).where(Delivery.user_id == priya))
        assert delivery.state == "skipped"
        assert delivery.reason.startswith("unsubscribed on ")
        assert s.get(ReportRun, run_id).skipped == 1
    assert len(others) == 2 and len(smtp_server.messages) == 2


def test_send_for_a_listed_learner_is_refused_in_words_everywhere(
    mail_app, api_world, admin, smtp_server
):
    priya = api_world["learner_ids"][0]
    listed(mail_app, priya, when=datetime(2026, 12, 3))
    client = mail_app.test_client()
    r = post_api(client, api_world["token"], "generate-user-report", user_id=priya)
    assert r.status_code == 409
    assert r.get_json()["message"] == (
        "Priya Raman is on the suppression list (unsubscribed on 3 Dec 2026): no report is "
        "mailed to them until an admin lifts the entry on the Suppression page."
    )
    # The learner page's Send: a notice for htmx, a page without it.
    response = htmx(admin, "POST", f"/learners/{priya}/send", data={"month": MONTH})
    assert response.status_code == 409 and response.headers["HX-Retarget"] == "#notices"
    assert "Priya Raman is on the suppression list" in text_of(response)
    page = admin.post(f"/learners/{priya}/send", data={"month": MONTH})
    assert page.status_code == 409 and "unsubscribed on 3 Dec 2026" in text_of(page)
    # The start form, for one learner.
    form = admin.post(
        "/runs", data={"month": MONTH, "scope": "one", "learner": "Priya Raman", "start": "1"}
    )
    assert form.status_code == 422 and "on the suppression list" in text_of(form)
    assert runs_count(mail_app) == 0 and smtp_server.messages == []


def test_the_preview_says_a_listed_learner_is_skipped(mail_app, admin, world):
    priya = world["learner_ids"][0]
    listed(mail_app, priya, when=datetime(2026, 12, 3))
    words = text_of(admin.get(f"/learners/{priya}/preview/{MONTH}"))
    assert (
        "Runs skip this learner. Priya Raman is on the suppression list: unsubscribed on" in words
    )


def test_a_plan_costs_the_same_queries_however_long_the_list(mail_app, world):
    # The list joins into the learners' query: no query per learner or per entry.
    from_scratch = _plan_statements(mail_app)
    for uid in world["learner_ids"]:
        listed(mail_app, uid)
    with_session(mail_app, lambda s: [make_user(s) for _ in range(20)] and s.commit())
    assert _plan_statements(mail_app) == from_scratch == 3


def _plan_statements(app) -> int:
    with app.app_context():
        s = get_session()
        with statements_run(app.extensions["runtime"].engine) as statements:
            launch.plan(s, Month.parse(MONTH))
        return len(statements)


# --- Hard bounces at RCPT -------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    ["550 5.1.1 <x>: Recipient address rejected: User unknown", "550 No such user here"],
)
def test_a_550_that_says_the_mailbox_does_not_exist_lists_the_learner_at_once(
    mail_app, api_world, smtp_server, reply
):
    priya = api_world["learner_ids"][0]
    smtp_server.plan = FaultPlan(rcpt={api_world["emails"][0]: reply})
    client = mail_app.test_client()
    post_api(client, api_world["token"], "generate-all-monthly-reports")
    smtp_server.wait_for(2)
    [(reason, detail, by)] = entries(mail_app).values()
    assert entries(mail_app).keys() == {priya}
    assert reason == "hard_bounce" and reply[4:] in detail
    assert by == "mail server (hard bounce at RCPT)"
    [(action, actor, target, words)] = audit_of(mail_app)
    assert action == AuditAction.SUPPRESSION_ADDED and actor == by
    assert target == f"learner {priya} ({api_world['emails'][0]})" and "hard bounce" in words
    with mail_app.app_context():
        delivery = get_session().scalar(select(Delivery).where(Delivery.user_id == priya))
        assert delivery.state == "failed" and delivery.smtp_code == 550
        assert delivery.last_error.endswith("the address is on the suppression list now")
    # The next run of the month does not try the address again.
    again = post_api(client, api_world["token"], "generate-all-monthly-reports", dry_run=True)
    assert {x["user_id"]: x["reason"] for x in again.get_json()["skipped"]}[priya].startswith(
        "the address bounced for good on "
    )


def test_resend_and_retry_of_a_hard_bounce_mail_nothing_until_the_entry_is_lifted(
    mail_app, admin, world, smtp_server
):
    priya = world["learner_ids"][0]
    smtp_server.plan = FaultPlan(rcpt={world["emails"][0]: "550 5.1.1 No such user"})
    confirmed(admin, "/runs", {"month": MONTH, "scope": "all", "start": "1"})
    smtp_server.wait_for(2)
    smtp_server.plan = FaultPlan()
    delivery_id = with_session(
        mail_app, lambda s: s.scalar(select(Delivery.id).where(Delivery.user_id == priya))
    )
    refused = htmx(admin, "POST", f"/deliveries/{delivery_id}/resend", data={"next": "/runs/1"})
    assert refused.status_code == 409 and refused.headers["HX-Retarget"] == "#notices"
    assert "Not resent. Priya Raman is on the suppression list" in text_of(refused)
    page = admin.post(f"/deliveries/{delivery_id}/resend")
    assert page.status_code == 409 and "Back to the run" in text_of(page)
    # Retry failed takes the delivery back, and the lane skips it with the reason.
    confirmed(admin, "/runs/1/retry-failed", headers={"HX-Request": "true"})
    with mail_app.app_context():
        delivery = get_session().get(Delivery, delivery_id)
        assert delivery.state == "skipped" and "hard bounce" in delivery.reason
    assert runs_count(mail_app) == 1 and len(smtp_server.messages) == 2


@pytest.mark.parametrize(
    "reply", ["550 5.7.1 Message refused by policy", "554 5.7.1 mailbox unavailable: spam"]
)
def test_other_permanent_refusals_stay_plain_failures(mail_app, api_world, smtp_server, reply):
    smtp_server.plan = FaultPlan(rcpt={api_world["emails"][0]: reply})
    post_api(mail_app.test_client(), api_world["token"], "generate-all-monthly-reports")
    smtp_server.wait_for(2)
    with mail_app.app_context():
        delivery = get_session().scalar(
            select(Delivery).where(Delivery.user_id == api_world["learner_ids"][0])
        )
        assert delivery.state == "failed"
    assert entries(mail_app) == {} and audit_of(mail_app) == []


# --- The admin page -------------------------------------------------------------------------


def test_the_page_lists_reason_time_and_who(mail_app, admin, world):
    priya, tomas, _amara = world["learner_ids"]
    listed(mail_app, priya, SuppressionReason.UNSUBSCRIBED, datetime(2026, 12, 3, 9, 30))
    listed(mail_app, tomas, SuppressionReason.HARD_BOUNCE, datetime(2026, 12, 4, 10, 0))
    response = admin.get("/suppression")
    assert response.status_code == 200
    words = text_of(response)
    assert "On the list 2 learners" in words
    # Newest first: Tomás's bounce, then Priya.
    assert words.index("Tomás Ortega") < words.index("Priya Raman")
    assert "✕ Hard bounce" in words and "⊘ Unsubscribed" in words
    assert "3 Dec 2026, 09:30" in words and ADMIN_EMAIL in words
    assert 'aria-current="page">Suppression</a>' in response.get_data(as_text=True)


def test_an_admin_adds_a_learner_by_email_with_a_note_audited(mail_app, admin, world):
    priya = world["learner_ids"][0]
    response = admin.post(
        "/suppression", data={"email": world["emails"][0].upper(), "note": "asked by phone"}
    )
    assert response.status_code == 303
    assert entries(mail_app) == {priya: ("admin", "asked by phone", ADMIN_EMAIL)}
    [(action, actor, target, detail)] = audit_of(mail_app)
    assert (action, actor) == (AuditAction.SUPPRESSION_ADDED, ADMIN_EMAIL)
    assert target == f"learner {priya} ({world['emails'][0]})"
    assert detail.startswith("suppressed by an admin on ") and detail.endswith("; asked by phone")
    assert "Priya Raman will get no reports" in text_of(admin.get("/suppression"))


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"email": "nobody@example.test"}, "No learner has the address nobody@example.test."),
        ({"email": ADMIN_EMAIL}, f"No learner has the address {ADMIN_EMAIL}."),
        ({"email": ""}, "Enter the learner's email address."),
        ({"email": "priya@example.test", "note": "x" * 501}, "under 500 characters"),
    ],
)
def test_adding_what_is_not_a_learner_is_refused_in_words(mail_app, admin, world, data, words):
    response = htmx(admin, "POST", "/suppression", data=data)
    assert response.status_code == 422
    assert words in text_of(response)
    assert entries(mail_app) == {} and audit_of(mail_app) == []


def test_adding_a_listed_learner_again_changes_nothing(mail_app, admin, world):
    listed(mail_app, world["learner_ids"][0], when=datetime(2026, 12, 3))
    response = htmx(admin, "POST", "/suppression", data={"email": world["emails"][0]})
    assert response.status_code == 422
    assert "Priya Raman is on the list already (unsubscribed on 3 Dec 2026)." in text_of(response)
    assert len(entries(mail_app)) == 1 and len(audit_of(mail_app)) == 1


def test_lifting_an_entry_is_audited_and_mails_the_learner_again(
    mail_app, admin, world, smtp_server
):
    priya = world["learner_ids"][0]
    listed(mail_app, priya, when=datetime(2026, 12, 3))
    entry_id = with_session(mail_app, lambda s: s.scalar(select(Suppression.id)))
    response = htmx(admin, "POST", f"/suppression/{entry_id}/lift")
    assert response.status_code == 200
    assert response.get_data(as_text=True).lstrip().startswith('<div id="suppression"')
    assert "Lifted: the learner at priya@example.test gets reports again." in text_of(response)
    assert entries(mail_app) == {}
    action, actor, target, detail = audit_of(mail_app)[-1]
    assert (action, actor) == (AuditAction.SUPPRESSION_LIFTED, ADMIN_EMAIL)
    assert target == f"learner {priya} (priya@example.test)"
    assert detail == "was: unsubscribed on 3 Dec 2026"
    # Lifting again, or an entry that never was: 404 in words, nothing more audited.
    for bad in (entry_id, 999):
        again = admin.post(f"/suppression/{bad}/lift")
        assert again.status_code == 404 and "not on the list" in text_of(again)
    assert admin.post(f"/suppression/{2**40}/lift").status_code == 404  # past any id
    assert len(audit_of(mail_app)) == 2
    admin.post(f"/learners/{priya}/send", data={"month": MONTH})
    assert smtp_server.wait_for(1)[0].rcpt_tos == [world["emails"][0]]


def test_the_list_comes_a_page_at_a_time_and_narrows_to_an_address(
    mail_app, admin, world, monkeypatch
):
    monkeypatch.setattr(suppression_page, "PER_PAGE", 2)
    for uid in world["learner_ids"]:
        listed(mail_app, uid)
    first = text_of(admin.get("/suppression"))
    assert "On the list 3 learners" in first and "Page 1 of 2" in first
    second = htmx(admin, "GET", "/suppression?page=2")
    assert second.get_data(as_text=True).lstrip().startswith('<div id="suppression"')
    assert "Page 2 of 2" in text_of(second)
    for page in ("²", "①", "-1", "x"):  # a 400 in words, never a 500
        refused = admin.get(f"/suppression?page={page}")
        assert refused.status_code == 400 and "page must be a whole number" in text_of(refused)
    narrowed = text_of(admin.get("/suppression?email=TOMAS"))
    assert "1 learner" in narrowed and "Tomás Ortega" in narrowed and "Priya" not in narrowed


def test_only_admins_reach_the_page(mail_app, admin, world):
    anonymous = mail_app.test_client()
    assert anonymous.get("/suppression").status_code == 302
    assert anonymous.post("/suppression", data={"email": world["emails"][0]}).status_code == 302
    with mail_app.app_context():
        s = get_session()
        s.query(User).filter_by(email=ADMIN_EMAIL).update({"role": "user"})
        s.commit()
    assert admin.get("/suppression").status_code == 403
    assert entries(mail_app) == {}
