"""A dry run's list as CSV: worked out again for the same options, a download that changes
nothing, safe to open in a spreadsheet."""

import csv
import io

from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select

from tests.helpers.apps import with_session
from tests.helpers.database import statements_run
from tests.helpers.factories import MONTH
from tests.helpers.factories import make_user
from tests.helpers.web import text_of
from webapp.core.models import ReportRun
from webapp.core.models import User

URL = f"/runs/dry-run.csv?month={MONTH}&scope=all"


def rows_of(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))


def test_the_list_names_who_would_be_mailed_and_who_skipped_and_why(mail_app, admin, world):
    response = admin.get(URL)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == 'attachment; filename="dry-run-2024-12.csv"'
    assert response.headers["Cache-Control"] == "no-store"
    ids, emails = world["learner_ids"], world["emails"]
    assert rows_of(response) == [
        ["learner_id", "name", "email", "outcome", "reason"],
        [str(ids[0]), "Priya Raman", emails[0], "would send", ""],
        [str(ids[1]), "Tomás Ortega", emails[1], "would send", ""],
        [str(ids[2]), "Amara Okafor", emails[2], "would send", ""],
        [str(world["no_email_id"]), "Nadia Nomail", "", "skipped", "no email address on file"],
    ]
    assert with_session(mail_app, lambda s: s.scalar(select(func.count(ReportRun.id)))) == 0


def test_the_dry_run_links_to_its_list(admin):
    dry = admin.post("/runs", data={"month": MONTH, "scope": "all", "dry_run": "dry_run"})
    assert f'href="/runs/dry-run.csv?month={MONTH}&amp;scope=all" download' in dry.get_data(
        as_text=True
    )
    one = admin.post(
        "/runs",
        data={"month": MONTH, "scope": "one", "learner": "Priya Raman", "dry_run": "dry_run"},
    )
    assert "scope=one&amp;learner=Priya+Raman" in one.get_data(as_text=True)


def test_one_learners_list(admin, world):
    response = admin.get(f"/runs/dry-run.csv?month={MONTH}&scope=one&learner=Priya+Raman")
    uid = world["learner_ids"][0]
    assert (
        f'filename="dry-run-2024-12-learner-{uid}.csv"' in response.headers["Content-Disposition"]
    )
    assert rows_of(response)[1:] == [
        [str(uid), "Priya Raman", world["emails"][0], "would send", ""]
    ]


def test_a_name_that_starts_like_a_formula_is_quoted(mail_app, admin, world):
    def add(s):
        make_user(s, full_name='=HYPERLINK("http://x","y")', username="eve", email=None)
        s.commit()

    with_session(mail_app, add)
    last = rows_of(admin.get(URL))[-1]
    assert last[1:] == ['\'=HYPERLINK("http://x","y")', "", "skipped", "no email address on file"]


def test_bad_options_are_a_400_in_words(admin):
    for query, words in [
        ("month=December&scope=all", "Enter a month as YYYY-MM"),
        ("scope=all", "Pick the month to report on."),
        (f"month={MONTH}&scope=one", "Type the learner's name or email address."),
        (f"month={MONTH}&scope=one&learner=zebra", "no single learner has that name"),
        (f"month={MONTH}&scope=some", "Not a valid choice"),
    ]:
        response = admin.get(f"/runs/dry-run.csv?{query}")
        assert response.status_code == 400, query
        assert "The list could not be made" in text_of(response) and words in text_of(response)


def test_a_viewer_may_download_it(staff_client, world):
    assert staff_client("viewer").get(URL).status_code == 200


def test_the_list_is_read_in_the_same_few_queries_however_many_learners(mail_app, admin, world):
    engine = mail_app.extensions["runtime"].engine

    def queries() -> int:
        with statements_run(engine) as statements:
            body = admin.get(URL).get_data()
        assert body
        return len([s for s in statements if s.lstrip().upper().startswith("SELECT")])

    few = queries()

    def many(s):
        rows = [
            {"username": f"m{i}", "email": f"m{i}@example.test", "role": "user"} for i in range(300)
        ]
        s.execute(insert(User), rows)
        s.commit()

    with_session(mail_app, many)
    assert queries() == few
    assert len(rows_of(admin.get(URL))) == 1 + 4 + 300
