"""The run page's list of deliveries: search (without JavaScript and as an htmx fragment),
counts on the state chips, bad input in words, and the CSV export of the list."""

import csv
import io
from datetime import datetime

import pytest
from sqlalchemy import select

from tests.helpers.apps import with_session
from tests.helpers.database import statements_run
from tests.helpers.factories import MONTH
from tests.helpers.factories import make_bulk_run
from tests.helpers.factories import make_user
from tests.helpers.web import htmx
from tests.helpers.web import text_of
from webapp.core.models import Delivery
from webapp.core.models import ReportRun
from webapp.core.models import User
from webapp.core.states import RunState


def bulk_run(app, n=120) -> int:
    return with_session(app, lambda s: make_bulk_run(s, n, failed_every=10))


def usernames_in(app, run_id: int, state: str | None = None) -> set[str]:
    query = select(User.username).join(Delivery, Delivery.user_id == User.id)
    query = query.where(Delivery.run_id == run_id)
    if state:
        query = query.where(Delivery.state == state)
    return set(with_session(app, lambda s: s.scalars(query).all()))


def listed_usernames(response) -> list[str]:
    html = response.get_data(as_text=True)
    return [
        part.split("</span>")[0] for part in html.split('<span class="visually-hidden"> to ')[1:]
    ]


# Learners whose names a spreadsheet would run as formulas, or which are not ASCII.
PEOPLE = [
    ('=HYPERLINK("http://evil.example","x")', "formula", "sent"),
    ("+1 Plus", "plus", "failed"),
    ("-2 Minus", "minus", "skipped"),
    ("@Sum", "at", "sent"),
    ("Zoë Ünal", "zoe", "failed"),
]


def make_small_run(session) -> int:
    """A closed run of PEOPLE: sent ones with a time and 250, failed with a 550, skipped."""
    run = ReportRun(task_id="small-run", month=MONTH, state=RunState.DONE)
    session.add(run)
    session.flush()
    for n, (name, username, state) in enumerate(PEOPLE):
        user = make_user(session, full_name=name, username=username)
        sent = state == "sent"
        session.add(
            Delivery(
                user_id=user.id,
                month=MONTH,
                run_id=run.id,
                state=state,
                attempts={"sent": 1, "failed": 3, "skipped": 0}[state],
                smtp_code=250 if sent else (550 if state == "failed" else None),
                last_error="mailbox unavailable (550 5.1.1)" if state == "failed" else None,
                reason="no attempts in December 2024" if state == "skipped" else None,
                sent_at=datetime(2025, 1, 1, 8, 30, n) if sent else None,
                message_id=f"<m{n}@quiz.example>",
            )
        )
    session.commit()
    return run.id


def read_csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))


# --- Search and chips -----------------------------------------------------------------------


def test_search_without_javascript_narrows_the_list_and_counts_the_chips(mail_app, admin):
    run_id = bulk_run(mail_app)
    everyone = text_of(admin.get(f"/runs/{run_id}"))
    assert "All 120" in everyone and "Sent 108" in everyone and "Failed 12" in everyone
    assert "Waiting 0" in everyone

    matching = {u for u in usernames_in(mail_app, run_id) if "bulk1" in u}
    failed = matching & usernames_in(mail_app, run_id, "failed")
    response = admin.get(f"/runs/{run_id}?q=BULK1")  # any case
    assert response.status_code == 200
    page = text_of(response)
    assert f"{len(matching)} reports matching “BULK1”" in page
    assert f"All {len(matching)}" in page and f"Failed {len(failed)}" in page
    assert f"Sent {len(matching) - len(failed)}" in page
    assert set(listed_usernames(response)) == matching
    html = response.get_data(as_text=True)
    assert 'name="q" value="BULK1"' in html
    # The chips keep the search, the search keeps the chip (its state goes with the form).
    assert f'href="/runs/{run_id}?state=failed&amp;q=BULK1"' in html
    assert 'name="state"' not in html  # all states: the URL stays ?q=...

    only_failed = admin.get(f"/runs/{run_id}?q=bulk1&state=failed")
    assert set(listed_usernames(only_failed)) == failed
    assert f"{len(failed)} reports failed matching “bulk1”" in text_of(only_failed)
    assert "Clear the search" in text_of(only_failed)


def test_search_pages_and_finds_nothing_in_words(mail_app, admin):
    run_id = bulk_run(mail_app)
    third = text_of(admin.get(f"/runs/{run_id}?q=bulk&page=3"))
    assert "Page 3 of 3" in third and "120 reports matching “bulk”" in third
    nothing = text_of(admin.get(f"/runs/{run_id}?q=zz"))
    assert "No learner matches “zz” in this run." in nothing and "All 0" in nothing
    assert "Download CSV" not in nothing
    # LIKE's wildcards are the characters themselves: no learner has them in their name.
    for wildcard in ("%25", "_", "%5C"):
        assert "0 reports matching" in text_of(admin.get(f"/runs/{run_id}?q={wildcard}"))


def test_htmx_search_returns_the_list_alone_with_its_url(mail_app, admin):
    run_id = bulk_run(mail_app)
    response = htmx(admin, "GET", f"/runs/{run_id}?q=bulk11&state=sent")
    assert response.status_code == 200 and "HX-Request" in response.headers["Vary"]
    fragment = response.get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="deliveries"')
    assert 'id="delivery-search"' not in fragment  # the form stays where the admin types
    assert f'hx-get="/runs/{run_id}?state=sent&amp;q=bulk11&amp;page=1"' in fragment
    assert '<input type="hidden" name="state" value="sent" form="delivery-search">' in fragment
    assert f'href="/runs/{run_id}/deliveries.csv?state=sent&amp;q=bulk11"' in fragment
    assert "Send attempts" in fragment


def test_the_search_form_works_without_javascript_and_live_with_htmx(mail_app, admin):
    run_id = bulk_run(mail_app, 3)
    html = admin.get(f"/runs/{run_id}").get_data(as_text=True)
    form = html[html.index('<form id="delivery-search"') :].split("</form>")[0]
    assert 'method="get"' in form and f'action="/runs/{run_id}"' in form
    assert 'hx-trigger="input changed delay:300ms from:#run-q, submit"' in form
    assert 'hx-push-url="true"' in form and 'hx-target="#deliveries"' in form
    assert 'maxlength="100"' in form and '<label for="run-q">' in form


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("q=" + "x" * 101, "Search for at most 100 characters"),
        ("q=ana%00", "control character"),
        ("q=a%0Ab", "control character"),
        ("page=two", "page must be a whole number"),
    ],
)
@pytest.mark.parametrize("path", ["", "/deliveries.csv"])
def test_bad_input_is_a_400_in_words(mail_app, admin, query, words, path):
    run_id = bulk_run(mail_app, 3)
    for response in (
        admin.get(f"/runs/{run_id}{path}?{query}"),
        htmx(admin, "GET", f"/runs/{run_id}{path}?{query}"),
    ):
        assert response.status_code == 400
        assert words in text_of(response)


def test_searching_ten_thousand_takes_a_fixed_handful_of_statements(mail_app, admin):
    run_id = bulk_run(mail_app, 10_000)
    engine = mail_app.extensions["runtime"].engine
    htmx(admin, "GET", f"/runs/{run_id}?q=bulk12")  # warm up
    with statements_run(engine) as statements:
        response = htmx(admin, "GET", f"/runs/{run_id}?q=bulk12&state=failed&page=2")
    assert response.status_code == 200
    assert len(statements) <= 6, statements  # the counts and the page, not one per learner
    assert sum("GROUP BY" in s for s in statements) == 1


def test_the_run_page_says_send_attempts(mail_app, admin):
    run_id = with_session(mail_app, make_small_run)
    html = admin.get(f"/runs/{run_id}").get_data(as_text=True)
    assert '<th scope="col" class="num">Send attempts</th>' in html
    assert 'data-label="Send attempts"' in html
    assert ">Attempts<" not in html and '"Attempts"' not in html


# --- CSV export -----------------------------------------------------------------------------


def test_csv_export_of_a_run_is_an_attachment_with_every_delivery(mail_app, admin):
    run_id = with_session(mail_app, make_small_run)
    response = admin.get(f"/runs/{run_id}/deliveries.csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert (
        response.headers["Content-Disposition"]
        == f'attachment; filename="run-{run_id}-deliveries.csv"'
    )
    assert response.headers["Cache-Control"] == "no-store"
    assert response.get_data().startswith("\ufeff".encode())
    rows = read_csv(response)
    assert rows[0] == [
        "Learner id",
        "Name",
        "Email",
        "State",
        "Reason or last error",
        "SMTP code",
        "Send attempts",
        "Sent at (UTC)",
        "Message-ID",
    ]
    ids = dict(with_session(mail_app, lambda s: s.execute(select(User.username, User.id)).all()))
    assert rows[1:] == [
        [
            str(ids["formula"]),
            '\'=HYPERLINK("http://evil.example","x")',
            "formula@example.test",
            "sent",
            "",
            "250",
            "1",
            "2025-01-01T08:30:00Z",
            "<m0@quiz.example>",
        ],
        [
            str(ids["plus"]),
            "'+1 Plus",
            "plus@example.test",
            "failed",
            "mailbox unavailable (550 5.1.1)",
            "550",
            "3",
            "",
            "<m1@quiz.example>",
        ],
        [
            str(ids["minus"]),
            "'-2 Minus",
            "minus@example.test",
            "skipped",
            "no attempts in December 2024",
            "",
            "0",
            "",
            "<m2@quiz.example>",
        ],
        [
            str(ids["at"]),
            "'@Sum",
            "at@example.test",
            "sent",
            "",
            "250",
            "1",
            "2025-01-01T08:30:03Z",
            "<m3@quiz.example>",
        ],
        [
            str(ids["zoe"]),
            "Zoë Ünal",
            "zoe@example.test",
            "failed",
            "mailbox unavailable (550 5.1.1)",
            "550",
            "3",
            "",
            "<m4@quiz.example>",
        ],
    ]


def test_csv_export_follows_the_lists_state_and_search(mail_app, admin):
    run_id = with_session(mail_app, make_small_run)
    page = admin.get(f"/runs/{run_id}?state=failed&q=zo%C3%AB").get_data(as_text=True)
    link = f"/runs/{run_id}/deliveries.csv?state=failed&amp;q=zo%C3%AB"
    assert f'href="{link}"' in page
    rows = read_csv(admin.get(link.replace("&amp;", "&")))
    assert [row[1] for row in rows[1:]] == ["Zoë Ünal"]
    everyone_failed = read_csv(admin.get(f"/runs/{run_id}/deliveries.csv?state=failed"))
    assert [row[1] for row in everyone_failed[1:]] == ["'+1 Plus", "Zoë Ünal"]


def test_csv_export_of_a_large_run_is_streamed(mail_app, admin):
    run_id = bulk_run(mail_app, 2_500)
    response = admin.get(f"/runs/{run_id}/deliveries.csv", buffered=False)
    assert response.is_streamed
    pieces = list(response.response)
    assert len(pieces) > 3  # written in batches as the rows are read, not as one string
    rows = list(csv.reader(io.StringIO(b"".join(pieces).decode("utf-8-sig"))))
    ids = [int(row[0]) for row in rows[1:]]
    assert len(set(ids)) == 2_500  # every learner once
    response.close()


def test_csv_export_of_an_unknown_run_is_a_404(admin):
    response = admin.get("/runs/999/deliveries.csv")
    assert response.status_code == 404
    assert "There is no run #999." in text_of(response)
