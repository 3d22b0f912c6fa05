"""One address check: the dry run, a start, the preview and the learner pages say a learner can be
mailed exactly when sending would mail them (webapp/core/mail/mime.address_problem)."""

from datetime import datetime

import pytest
from sqlalchemy import func
from sqlalchemy import select

from tests.helpers.apps import with_session
from tests.helpers.factories import MONTH
from tests.helpers.factories import make_quiz
from tests.helpers.factories import make_score
from tests.helpers.factories import make_user
from tests.helpers.reports import make_report
from tests.helpers.web import bearer
from tests.helpers.web import text_of
from webapp.core.mail.mime import InvalidAddressError
from webapp.core.mail.mime import address_problem
from webapp.core.mail.mime import build_message
from webapp.core.mail.mime import deliverable
from webapp.core.mail.render import render_report
from webapp.core.models import Delivery

# Each has an "@" (the old check let them through to the sender, which refused them).
UNMAILABLE = [
    "not an address@example.test",
    "josé@example.test",
    "a..b@example.test",
    "<bob@example.test>",
    "bob@exa mple.test",
    "x" * 65 + "@example.test",
    "bob@" + "d" * 250 + ".test",
]
# What the learner table can hold (PostgreSQL's email column is VARCHAR(254)).
STORED = [address for address in UNMAILABLE if len(address) <= 254]
MONTH_START = datetime(2024, 12, 9, 9)
MAILABLE = ["bob@example.test", " bob@example.test ", "o'brien+q@sub.example.test"]


def sends(address) -> bool:
    """Whether build_message, which sending uses, takes `address` as the recipient."""
    try:
        build_message(
            render_report(make_report()),
            from_addr="Quiz Reports <reports@quiz.example>",
            to_addr=address,
            to_name="Bob",
            message_id="<m@quiz.example>",
            date=MONTH_START,
        )
    except InvalidAddressError:
        return False
    return True


@pytest.mark.parametrize("address", [*UNMAILABLE, *MAILABLE, None, "", "  "])
def test_the_check_is_the_one_sending_makes(address):
    assert deliverable(address) is sends(address)
    assert (address_problem(address) is None) is sends(address)


def test_words_for_each_kind_of_problem():
    assert address_problem(None) == "no email address on file"
    assert address_problem(" ") == "no email address on file"
    assert address_problem("josé@example.test") == (
        "the email address on file cannot be mailed: 'josé@example.test'"
    )
    long = address_problem("x" * 500 + "@example.test")
    assert len(long) < 140 and long.endswith("…'")


@pytest.fixture
def unmailable(mail_app, world) -> dict[str, int]:
    """Learners with December attempts and an address sending refuses: address -> id."""

    def add(session):
        quiz = make_quiz(session, name="Quiz 2")
        ids = {}
        for n, address in enumerate(STORED):
            user = make_user(session, username=f"bad{n}", full_name=f"Bad {n}", email=address)
            make_score(session, user, quiz, MONTH_START, 5, 10)
            ids[address] = user.id
        session.commit()
        return ids

    return with_session(mail_app, add)


def test_the_dry_run_skips_them_with_the_reason(mail_app, api_world, unmailable, smtp_server):
    body = {"month_year": MONTH, "dry_run": True}
    path = "/scheduled/generate-all-monthly-reports"
    plan = bearer(mail_app.test_client(), "POST", path, api_world["token"], json=body).get_json()
    assert [x["user_id"] for x in plan["to_send"]] == api_world["learner_ids"]
    reasons = {x["user_id"]: x["reason"] for x in plan["skipped"]}
    for address, uid in unmailable.items():
        assert reasons[uid].startswith("the email address on file cannot be mailed: "), address
    assert reasons[api_world["no_email_id"]] == "no email address on file"
    # A start writes no delivery for them, and mails only the others.
    body = {"month_year": MONTH}
    response = bearer(mail_app.test_client(), "POST", path, api_world["token"], json=body)
    assert response.status_code == 202
    rows = with_session(
        mail_app,
        lambda s: s.scalar(
            select(func.count()).where(Delivery.user_id.in_(list(unmailable.values())))
        ),
    )
    assert rows == 0
    assert len(smtp_server.messages) == len(api_world["learner_ids"])


def test_a_start_for_one_of_them_is_refused_in_words(mail_app, api_world, unmailable):
    for uid in unmailable.values():
        body = {"user_id": uid, "month_year": MONTH}
        response = bearer(
            mail_app.test_client(),
            "POST",
            "/scheduled/generate-user-report",
            api_world["token"],
            json=body,
        )
        assert response.status_code == 400
        assert "the email address on file cannot be mailed" in response.get_json()["message"]
    assert with_session(mail_app, lambda s: s.scalar(select(func.count(Delivery.id)))) == 0


def test_the_preview_and_learner_pages_say_so(admin, unmailable, world):
    address, uid = "josé@example.test", unmailable["josé@example.test"]
    preview = text_of(admin.get(f"/learners/{uid}/preview/{MONTH}"))
    assert f"the email address on file cannot be mailed: '{address}'" in preview
    assert "no email address on file" not in preview
    page = text_of(admin.get(f"/learners/{uid}"))
    assert "cannot be mailed: not a plain name@domain address" in page
    good = text_of(admin.get(f"/learners/{world['learner_ids'][0]}"))
    assert "cannot be mailed" not in good
    listing = text_of(admin.get("/learners?q=Bad"))
    assert listing.count("cannot be mailed") == len(STORED)
