"""The small things of the dashboard: the site's icon, a new token's curl line, and counted
nouns that read right."""

import re
from html import unescape

from tests.helpers.factories import ADMIN_EMAIL
from tests.helpers.factories import MONTH
from tests.helpers.factories import PASSWORD
from tests.helpers.web import bearer
from tests.helpers.web import text_of

ICO_MAGIC = b"\x00\x00\x01\x00"


def test_the_icon_is_served_to_anyone_and_cached(mail_app):
    anyone = mail_app.test_client()
    icon = anyone.get("/favicon.ico")
    assert icon.status_code == 200
    assert icon.mimetype == "image/x-icon" and icon.data.startswith(ICO_MAGIC)
    assert icon.cache_control.public and icon.cache_control.max_age >= 24 * 3600
    svg = anyone.get("/static/favicon.svg")
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    icon.close()
    svg.close()


def test_every_page_links_the_icon(mail_app, admin):
    for path in ("/login", "/", "/tokens"):
        html = (admin if path != "/login" else mail_app.test_client()).get(path).get_data(True)
        assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in html, path


def _field(html: str, field_id: str) -> str:
    """The text of the input or textarea with this id."""
    found = re.search(rf'id="{field_id}"[^>]*?(?:value="([^"]*)"[^>]*>|>([^<]*)</textarea>)', html)
    assert found, field_id
    return unescape(found.group(1) or found.group(2))


def test_a_new_token_comes_with_a_curl_line_for_the_address_asked(mail_app, world):
    # The admin reaches the dashboard at this address, so the API is there too.
    admin, there = mail_app.test_client(), "https://reports.school.example"
    signed_in = admin.post(
        "/login", data={"email": ADMIN_EMAIL, "password": PASSWORD}, base_url=there
    )
    assert signed_in.status_code == 303
    created = admin.post("/tokens", data={"name": "nightly cron"}, base_url=there)
    assert created.status_code == 201
    html = created.get_data(as_text=True)
    plain = _field(html, "new-token")
    curl = _field(html, "new-token-curl")
    assert plain.startswith("qr_")
    assert curl == (
        f'curl -H "Authorization: Bearer {plain}" '
        "https://reports.school.example/scheduled/report-summary"
    )
    # Copy buttons wait, hidden, for the script that can use the clipboard.
    assert html.count("data-copy=") == 2 and html.count("hidden>Copy") == 2
    assert 'aria-live="polite" data-copy-status' in html
    # The line works as written: the API answers it.
    api = mail_app.test_client()
    answer = api.get("/scheduled/report-summary", headers={"Authorization": f"Bearer {plain}"})
    assert answer.status_code == 200


def test_the_plural_filter_counts_nouns_for_pages(mail_app):
    with mail_app.app_context():
        render = mail_app.jinja_env.from_string(
            "{{ one|plural('report') }}; {{ many|plural('report') }}; "
            "{{ two|plural('entry', 'entries') }}"
        ).render
        assert render(one=1, many=1980, two=2) == "1 report; 1,980 reports; 2 entries"


def test_the_pages_say_one_run_and_one_report_in_the_singular(mail_app, admin, api_world):
    started = bearer(
        mail_app.test_client(),
        "POST",
        "/scheduled/generate-all-monthly-reports",
        api_world["token"],
        json={"month_year": MONTH},
    )
    assert started.status_code == 202
    assert "3 learners to mail" in started.get_json()["message"]
    overview = admin.get("/").get_data(as_text=True)
    assert "The only run so far" in overview and "1 most recent runs" not in overview
    assert "(s)" not in text_of(admin.get("/runs/1"))
    summary = bearer(mail_app.test_client(), "GET", "/scheduled/report-summary", api_world["token"])
    assert summary.get_json()["message"] == "1 recent run."
