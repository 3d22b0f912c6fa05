"""The audit trail from the dashboard: every action is recorded once with who did it and from
where; the Audit page shows it newest first, in DISPLAY_TIMEZONE, filtered and paged."""

from datetime import datetime

import pytest
from sqlalchemy import select

from tests.helpers.apps import reconfigure
from tests.helpers.apps import with_session
from tests.helpers.audit import trail as audit_trail
from tests.helpers.factories import ADMIN_EMAIL
from tests.helpers.factories import MONTH
from tests.helpers.factories import make_bulk_run
from tests.helpers.web import confirmed
from tests.helpers.web import htmx
from tests.helpers.web import text_of
from webapp.core import launch
from webapp.core.audit import Actor
from webapp.core.audit import AuditAction
from webapp.core.audit import record
from webapp.core.models import AuditEntry
from webapp.core.models import Delivery
from webapp.core.models import User
from webapp.core.months import Month
from webapp.web import audit as audit_page
from webapp.web.services import get_session

# The target of the admin fixture's sign-in, recorded when the test signs in (today).
SIGNED_IN = "user 1 (admin@example.test)"


def trail(app) -> list[tuple[str, str, str]]:
    """(actor, action, source) of every entry but sign-ins, oldest first."""
    return audit_trail(app, AuditEntry.actor, AuditEntry.action, AuditEntry.source)


def test_every_action_of_the_dashboard_is_recorded_once_with_who_and_where(
    mail_app, admin, world, smtp_server
):
    priya = world["learner_ids"][0]
    # Start: the run goes out at once (the test queue runs its tasks in-process).
    start = {"month": MONTH, "scope": "all", "start": "1"}
    assert confirmed(admin, "/runs", start).status_code == 303
    sent = with_session(
        mail_app, lambda s: s.scalar(select(Delivery.id).where(Delivery.user_id == priya))
    )
    assert admin.post(f"/deliveries/{sent}/resend").status_code == 303
    assert admin.post(f"/learners/{priya}/send", data={"month": "2024-11"}).status_code == 303
    assert admin.post(f"/learners/{priya}/preview/{MONTH}/send-test").status_code == 303
    # Pause, resume and cancel need open runs (a resumed one goes out at once); retry, a
    # failed report.
    october, september = (
        with_session(mail_app, lambda s, m=m: launch.start_all(s, m, mail_from="r@quiz.example").id)
        for m in (Month(2024, 10), Month(2024, 9))
    )
    for path in (f"{october}/pause", f"{october}/resume"):
        assert admin.post(f"/runs/{path}").status_code == 303, path
    assert confirmed(admin, f"/runs/{september}/cancel").status_code == 303
    failing = with_session(mail_app, lambda s: make_bulk_run(s, 2, failed_every=2))
    assert confirmed(admin, f"/runs/{failing}/retry-failed").status_code == 303
    created = admin.post("/tokens", data={"name": "nightly"})
    token_id = created.get_data(as_text=True).split("/tokens/")[1].split("/")[0]
    assert admin.post(f"/tokens/{token_id}/revoke").status_code == 303

    by_admin = [
        a for who, a, source in trail(mail_app) if (who, source) == (ADMIN_EMAIL, "127.0.0.1")
    ]
    assert by_admin == [
        "run_started",
        "report_resent",
        "run_started",  # the first report of November: a start, not a resend
        "test_sent",
        "run_paused",
        "run_resumed",
        "run_cancelled",
        "run_retried",
        "token_created",
        "token_revoked",
    ]
    # Everything else in the trail is the product's own (the runs the test started).
    assert [who for who, *_ in trail(mail_app) if who != ADMIN_EMAIL] == ["system", "system"]


def test_a_refused_action_records_nothing(mail_app, admin, world):
    open_run = with_session(
        mail_app, lambda s: launch.start_all(s, Month(2024, 10), mail_from="r@quiz.example").id
    )
    before = trail(mail_app)
    assert admin.post(f"/runs/{open_run}/resume").status_code == 409  # it is not paused
    assert (
        admin.post("/runs", data={"month": "2024-10", "scope": "all", "start": "1"}).status_code
        == 409
    )
    assert trail(mail_app) == before


@pytest.fixture
def entries(mail_app, world):
    """Entries at known times (UTC): the admin's role changes and sign-ins, a system start."""
    ada = Actor(ADMIN_EMAIL, 1, "203.0.113.5")
    with mail_app.app_context():
        s = get_session()
        for action, target, at in (
            (AuditAction.RUN_STARTED, "run #1", datetime(2024, 11, 30, 12)),
            # 03:00 UTC on 1 December is still 30 November in New York.
            (AuditAction.ROLE_CHANGED, "vera@example.com", datetime(2024, 12, 1, 3)),
            (AuditAction.USER_DISABLED, "vera@example.com", datetime(2024, 12, 2, 9)),
        ):
            record(s, ada, action, target, "<b>not markup</b>").at = at
        record(s, Actor("system"), AuditAction.RUN_STARTED, "run #2").at = datetime(2024, 12, 3)
        s.commit()


def rows(response) -> list[str]:
    """The Target column of the entries shown, top to bottom."""
    html = response.get_data(as_text=True)
    return [cell.split("<")[0] for cell in html.split('data-label="Target">')[1:]]


def test_the_page_shows_the_trail_newest_first_in_the_display_zone(mail_app, admin, entries):
    reconfigure(mail_app, DISPLAY_TIMEZONE="America/New_York")
    page = admin.get("/audit")
    assert page.status_code == 200
    # Newest first: the admin's own sign-in (now), then the entries of 2024.
    assert rows(page) == [SIGNED_IN, "run #2", "vera@example.com", "vera@example.com", "run #1"]
    words = text_of(page)
    assert "30 Nov 2024, 22:00 EST" in words  # 03:00 UTC
    assert "Role changed" in words and "203.0.113.5" in words
    assert "<b>not markup</b>" in words  # escaped, shown as text
    assert "5 entries" in words


@pytest.mark.parametrize(
    "query,targets",
    [
        ("action=run_started", ["run #2", "run #1"]),
        ("actor=ADMIN%40", [SIGNED_IN, "vera@example.com", "vera@example.com", "run #1"]),
        ("target=run+%23", ["run #2", "run #1"]),
        # Days as the page shows them, in New York: 1 December 03:00 UTC is 30 November there.
        ("since=2024-12-01", [SIGNED_IN, "run #2", "vera@example.com"]),
        ("until=2024-11-30", ["vera@example.com", "run #1"]),
        ("since=2024-11-30&until=2024-11-30", ["vera@example.com", "run #1"]),
        ("action=user_disabled&actor=system", []),
    ],
)
def test_the_filters(mail_app, admin, entries, query, targets):
    reconfigure(mail_app, DISPLAY_TIMEZONE="America/New_York")
    page = htmx(admin, "GET", f"/audit?{query}")
    assert page.status_code == 200
    assert rows(page) == targets
    if not targets:
        assert "No entry matches these filters." in text_of(page)


@pytest.mark.parametrize(
    "query,words",
    [
        ("since=yesterday", "Enter a date as YYYY-MM-DD"),
        ("until=2024-02-30", "Enter a date as YYYY-MM-DD"),
        ("since=0001-01-01", "Pick a date from the year 2000 on."),
        ("since=2024-12-02&until=2024-12-01", "The end date is before the start date."),
        ("action=drop_tables", "Not a valid choice"),
        (f"target={'x' * 255}", "Field cannot be longer than 254 characters."),
    ],
)
def test_bad_filters_get_a_422_in_words(admin, entries, query, words):
    page = admin.get(f"/audit?{query}")
    assert page.status_code == 422
    assert words in text_of(page)
    assert rows(page) == []


@pytest.mark.parametrize("page", ["²", "①", "-1", "0", "99999999", "abc"])
def test_a_page_number_that_is_not_one_shows_the_first(admin, entries, page):
    response = admin.get(f"/audit?page={page}")
    assert response.status_code == 200
    assert rows(response)[0] == SIGNED_IN


def test_the_trail_is_paged_with_the_filters_kept(mail_app, admin, entries, monkeypatch):
    monkeypatch.setattr(audit_page, "PER_PAGE", 1)
    first = admin.get("/audit?action=run_started")
    assert rows(first) == ["run #2"]
    assert 'href="/audit?page=2&amp;action=run_started"' in first.get_data(as_text=True)
    assert rows(admin.get("/audit?action=run_started&page=2")) == ["run #1"]


def test_actor_ids_outlive_their_accounts(mail_app, admin, entries):
    # The trail keeps the label: an account's later change of email does not rewrite it.
    with mail_app.app_context():
        s = get_session()
        s.get(User, 1).email = "renamed@example.test"
        s.commit()
    assert "admin@example.test" in text_of(admin.get("/audit?target=vera"))
