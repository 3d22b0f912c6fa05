"""A learner's unsubscribe link: the mailed headers and footer, the page, the one-click POST
of a mail client (no cookies, no CSRF token), and forged links that change nothing."""

import base64

import pytest
from sqlalchemy import func
from sqlalchemy import select

from tests.helpers.apps import open_app
from tests.helpers.apps import rows_of
from tests.helpers.apps import with_session
from tests.helpers.audit import suppression_trail
from tests.helpers.factories import MONTH
from tests.helpers.factories import make_learner_world
from tests.helpers.web import bearer
from tests.helpers.web import login
from tests.helpers.web import text_of
from webapp.core import unsubscribe
from webapp.core.audit import AuditAction
from webapp.core.models import AuditEntry
from webapp.core.models import Suppression
from webapp.web.services import get_session
from webapp.web.services import settings

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


def b64decode(text: str) -> str:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()


@pytest.fixture
def csrf_app(tmp_path):
    """An app with CSRF protection on, as in production, and the learner world."""
    with open_app(tmp_path, WTF_CSRF_ENABLED=True, PUBLIC_BASE_URL="https://r.example") as app:
        with app.app_context():
            app.world = make_learner_world(get_session()).ids()
        yield app


def link_of(app, user_id: int) -> str:
    """The learner's unsubscribe URL, as the workers sign it."""
    with app.app_context():
        return unsubscribe.links_for(settings()).url(user_id)


def entries(app) -> list[tuple]:
    """The suppression list: (learner, reason, detail, added by)."""
    e = Suppression
    return rows_of(app, select(e.user_id, e.reason, e.detail, e.added_by).order_by(e.id))


def audit_of(app) -> list[tuple]:
    """The suppression entries of the trail: (action, actor, actor id, target, source, detail)."""
    e = AuditEntry
    return suppression_trail(app, e.action, e.actor, e.actor_id, e.target, e.source, e.detail)


def test_every_mailed_report_carries_its_learners_link_in_the_headers_and_the_footer(
    mail_app, api_world, smtp_server
):
    client = mail_app.test_client()
    r = bearer(
        client,
        "POST",
        "/scheduled/generate-all-monthly-reports",
        api_world["token"],
        json={"month_year": MONTH},
    )
    assert r.status_code == 202
    by_address = {m.rcpt_tos[0]: m for m in smtp_server.wait_for(3)}
    with mail_app.app_context():
        links = unsubscribe.links_for(settings())
    for user_id, address in zip(api_world["learner_ids"], api_world["emails"], strict=True):
        email = by_address[address].email
        url = email["List-Unsubscribe"].strip("<>")
        assert url.startswith("http://127.0.0.1:5000/unsubscribe/")  # the development default
        assert links.user_id(url.rsplit("/", 1)[1]) == user_id
        assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        html = email.get_body(("html",)).get_content()
        text = email.get_body(("plain",)).get_content()
        assert f'<a href="{url}"' in html and f"Unsubscribe: {url}" in text


def test_the_preview_shows_the_headers_that_are_mailed(mail_app, admin, world, smtp_server):
    uid = world["learner_ids"][0]
    url = link_of(mail_app, uid)
    before = text_of(admin.get(f"/learners/{uid}/preview/{MONTH}"))
    assert f"List-Unsubscribe <{url}>" in before
    assert "List-Unsubscribe-Post List-Unsubscribe=One-Click" in before
    admin.post(f"/learners/{uid}/send", data={"month": MONTH})
    [mailed] = smtp_server.wait_for(1)
    assert mailed.email["List-Unsubscribe"] == f"<{url}>"
    after = text_of(admin.get(f"/learners/{uid}/preview/{MONTH}"))
    assert "exact message that was mailed" in after and f"List-Unsubscribe <{url}>" in after


def test_a_test_copy_to_an_admin_has_no_one_click_header(mail_app, admin, world, smtp_server):
    # A mail client's unsubscribe button on the admin's copy would unsubscribe the learner.
    uid = world["learner_ids"][0]
    admin.post(f"/learners/{uid}/preview/{MONTH}/send-test")
    [copy] = smtp_server.wait_for(1)
    assert copy.email["List-Unsubscribe"] is None
    assert copy.email["List-Unsubscribe-Post"] is None


def test_the_link_shows_a_page_with_a_button_and_changes_nothing(csrf_app):
    uid = csrf_app.world["learner_ids"][0]
    url = link_of(csrf_app, uid)
    token_path = "/unsubscribe/" + url.rsplit("/", 1)[1]
    response = csrf_app.test_client().get(token_path)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Stop the monthly quiz reports?" in text_of(response)
    assert f'<form method="post" action="{token_path}"' in page
    assert '<button type="submit" class="btn btn-primary">Unsubscribe</button>' in page
    # The key in the URL goes nowhere else, and the page is not kept.
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    assert entries(csrf_app) == [] and audit_of(csrf_app) == []


def test_a_mail_clients_one_click_post_opts_out_without_cookies_or_csrf_token(csrf_app):
    uid = csrf_app.world["learner_ids"][1]
    token_path = "/unsubscribe/" + link_of(csrf_app, uid).rsplit("/", 1)[1]
    client = csrf_app.test_client(use_cookies=False)
    response = client.post(token_path, data=ONE_CLICK, environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert response.status_code == 200
    words = text_of(response)
    assert "You are unsubscribed" in words and "ask an admin" in words
    assert "Set-Cookie" not in response.headers
    assert entries(csrf_app) == [
        (uid, "unsubscribed", "one-click from a mail client", f"learner {uid} (unsubscribe link)")
    ]
    [entry] = audit_of(csrf_app)
    assert entry[:5] == (
        AuditAction.SUPPRESSION_ADDED,
        f"learner {uid} (unsubscribe link)",
        None,
        f"learner {uid} ({csrf_app.world['emails'][1]})",
        "203.0.113.9",
    )
    assert entry[5].startswith("unsubscribed on ")

    # Again, and from the page's button: harmless, nothing more is written.
    for data in (ONE_CLICK, {}):
        again = client.post(token_path, data=data)
        assert again.status_code == 200 and "You are unsubscribed" in text_of(again)
    assert len(entries(csrf_app)) == 1 and len(audit_of(csrf_app)) == 1
    # Opening the link once unsubscribed says so.
    assert "You are unsubscribed" in text_of(client.get(token_path))


def test_the_pages_button_opts_out_too(csrf_app):
    uid = csrf_app.world["learner_ids"][2]
    token_path = "/unsubscribe/" + link_of(csrf_app, uid).rsplit("/", 1)[1]
    client = csrf_app.test_client()
    client.get(token_path)
    assert client.post(token_path).status_code == 200
    assert entries(csrf_app)[0][:3] == (uid, "unsubscribed", "on the unsubscribe page")


def test_other_posts_still_need_their_csrf_token(csrf_app):
    # The exemption is for the unsubscribe view alone.
    client = csrf_app.test_client()
    assert login(client).status_code == 400
    response = client.post("/suppression", data={"email": csrf_app.world["emails"][0]})
    assert response.status_code == 400
    assert entries(csrf_app) == []


@pytest.mark.parametrize(
    "forge",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),
        # The next learner's id with this learner's signature.
        lambda t: b64(str(int(b64decode(t.split(".")[0])) + 1)) + t[t.index(".") :],
        lambda t: t.split(".")[0],
        lambda t: unsubscribe.UnsubscribeLinks("x", "not the key").token(1),
        lambda t: "x" * 300,
    ],
    ids=["altered", "other-learner", "unsigned", "other-key", "too-long"],
)
def test_a_forged_or_altered_link_is_404_and_changes_nothing(csrf_app, forge):
    uid = csrf_app.world["learner_ids"][0]
    token = forge(link_of(csrf_app, uid).rsplit("/", 1)[1])
    client = csrf_app.test_client(use_cookies=False)
    for method in ("GET", "POST"):
        response = client.open(f"/unsubscribe/{token}", method=method, data=ONE_CLICK)
        assert response.status_code == 404, method
        assert "This unsubscribe link is not valid" in text_of(response)
    assert entries(csrf_app) == [] and audit_of(csrf_app) == []


def test_a_link_of_someone_who_is_not_a_learner_is_404(csrf_app):
    # Tokens are signed for learners only; an admin's id, or a learner removed since, is none.
    for user_id in (csrf_app.world["admin_id"], 99999):
        token_path = "/unsubscribe/" + link_of(csrf_app, user_id).rsplit("/", 1)[1]
        response = csrf_app.test_client().post(token_path, data=ONE_CLICK)
        assert response.status_code == 404
    assert entries(csrf_app) == []


def test_a_post_that_is_not_one_click_is_400_and_changes_nothing(csrf_app):
    uid = csrf_app.world["learner_ids"][0]
    token_path = "/unsubscribe/" + link_of(csrf_app, uid).rsplit("/", 1)[1]
    response = csrf_app.test_client().post(token_path, data={"List-Unsubscribe": "Maybe"})
    assert response.status_code == 400
    assert "could not be read" in text_of(response)
    assert entries(csrf_app) == []
    count = with_session(csrf_app, lambda s: s.scalar(select(func.count(AuditEntry.id))))
    assert count == 0


def test_a_one_click_post_as_multipart_form_data_works_too(csrf_app):
    # RFC 8058 lets mail clients send the body either way.
    uid = csrf_app.world["learner_ids"][0]
    token_path = "/unsubscribe/" + link_of(csrf_app, uid).rsplit("/", 1)[1]
    client = csrf_app.test_client(use_cookies=False)
    response = client.post(token_path, data=ONE_CLICK, content_type="multipart/form-data")
    assert response.status_code == 200
    assert entries(csrf_app)[0][:3] == (uid, "unsubscribed", "one-click from a mail client")
