"""flask --app wsgi ingest-bounces PATH: bounce reports (RFC 3464) built here as mail servers
send them, delivered into a Maildir folder and an mbox file; hard bounces list the learner,
soft ones are counted, and nothing stops the command."""

import pytest
from sqlalchemy import select

from tests.helpers.apps import with_session
from tests.helpers.audit import suppression_trail
from tests.helpers.dsn import dsn
from tests.helpers.dsn import not_a_report
from tests.helpers.dsn import write_maildir
from tests.helpers.dsn import write_mbox
from tests.helpers.factories import MONTH
from tests.helpers.web import bearer
from webapp.core import bounces
from webapp.core.audit import AuditAction
from webapp.core.models import AuditEntry
from webapp.core.models import Suppression

WRITERS = {"maildir": write_maildir, "mbox": write_mbox}


@pytest.fixture
def mailed(mail_app, api_world, smtp_server) -> dict:
    """The month's reports mailed to the three learners: address -> the Message-ID mailed."""
    bearer(
        mail_app.test_client(),
        "POST",
        "/scheduled/generate-all-monthly-reports",
        api_world["token"],
        json={"month_year": MONTH},
    )
    return {m.rcpt_tos[0]: m.email["Message-ID"] for m in smtp_server.wait_for(3)}


def entries(app) -> dict[int, tuple]:
    rows = with_session(
        app,
        lambda s: s.execute(
            select(Suppression.user_id, Suppression.reason, Suppression.email, Suppression.detail)
        ).all(),
    )
    return {uid: (reason, email, detail) for uid, reason, email, detail in rows}


def audit_of(app) -> list[tuple]:
    """(action, actor, target) of each suppression entry of the trail, oldest first."""
    return suppression_trail(app, AuditEntry.action, AuditEntry.actor, AuditEntry.target)


@pytest.mark.parametrize("kind", ["maildir", "mbox"])
def test_hard_bounces_list_their_learners_and_the_rest_is_counted(
    mail_app, api_world, mailed, tmp_path, kind
):
    priya, tomas, amara = api_world["emails"]
    priya_id, tomas_id, _amara_id = api_world["learner_ids"]
    messages = [
        # Matched by the Message-ID mailed, though the server names an alias of the address.
        dsn("p.raman@alias.example.test", message_id=mailed[priya]),
        # No original message returned: matched by the address that failed.
        dsn(tomas.upper(), status="5.1.10", returned="none", diagnostic="smtp; 550 5.1.10 null MX"),
        dsn(amara, action="delayed", status="4.4.7", message_id=mailed[amara]),
        dsn("stranger@example.net"),
        not_a_report(),
        b"\x00\xff\xfe not mail at all",
    ]
    path = WRITERS[kind](tmp_path / f"bounces.{kind}", messages)
    runner = mail_app.test_cli_runner()

    result = runner.invoke(args=["ingest-bounces", str(path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[-1] == (
        "6 reports read: 2 hard bounces suppressed, 1 soft ignored, 1 unmatched, 2 unreadable"
    )
    assert f"suppressed learner {priya_id} <p.raman@alias.example.test>: bounce report: 5.1.1" in (
        result.output
    )
    assert "unmatched: no learner was mailed at <stranger@example.net>" in lines
    listed = entries(mail_app)
    assert set(listed) == {priya_id, tomas_id}
    assert listed[priya_id][:2] == ("hard_bounce", "p.raman@alias.example.test")
    assert listed[tomas_id][0] == "hard_bounce"
    assert listed[tomas_id][2] == "bounce report: 5.1.10 (smtp; 550 5.1.10 null MX)"
    assert [(a, actor) for a, actor, _t in audit_of(mail_app)] == [
        (AuditAction.SUPPRESSION_ADDED, "bounce report (ingest-bounces)")
    ] * 2

    # Read again: the same reports, nobody listed twice, nothing more audited.
    again = runner.invoke(args=["ingest-bounces", str(path)])
    assert again.exit_code == 0, again.output
    assert again.output.splitlines()[-1] == (
        "6 reports read: 2 hard bounces suppressed (2 already on the list), 1 soft ignored, "
        "1 unmatched, 2 unreadable"
    )
    assert entries(mail_app) == listed and len(audit_of(mail_app)) == 2


def test_a_path_that_is_no_mailbox_is_refused_in_words(mail_app, api_world, tmp_path):
    runner = mail_app.test_cli_runner()
    (tmp_path / "plain-folder").mkdir()
    result = runner.invoke(args=["ingest-bounces", str(tmp_path / "plain-folder")])
    assert result.exit_code == 1
    assert "is a folder but not a Maildir (it has no cur/ and new/)" in result.output
    missing = runner.invoke(args=["ingest-bounces", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "does not exist" in missing.output
    assert entries(mail_app) == {}


def test_an_empty_mbox_reads_nothing(mail_app, api_world, tmp_path):
    path = write_mbox(tmp_path / "empty.mbox", [])
    result = mail_app.test_cli_runner().invoke(args=["ingest-bounces", str(path)])
    assert result.exit_code == 0
    assert result.output.splitlines()[-1] == (
        "0 reports read: 0 hard bounces suppressed, 0 soft ignored, 0 unmatched, 0 unreadable"
    )


def test_a_message_that_breaks_the_reading_is_counted_and_the_rest_go_on(
    mail_app, api_world, mailed, tmp_path, monkeypatch
):
    priya_id = api_world["learner_ids"][0]
    folder = write_maildir(
        tmp_path / "bounces",
        [b"Subject: the parser chokes on this one\r\n\r\n", dsn(api_world["emails"][0])],
    )
    # An entry that cannot be read at all: its file went away (a link to nothing).
    (folder / "new" / "1764581400.M1P1.mx").symlink_to(tmp_path / "gone")
    real = bounces.parse_report

    def choking(raw: bytes):
        # A fault of the parser's own on one message, whatever it is, must not stop the rest.
        if b"chokes" in raw:
            raise UnicodeDecodeError("utf-8", raw, 0, 1, "invalid start byte")
        return real(raw)

    monkeypatch.setattr(bounces, "parse_report", choking)
    result = mail_app.test_cli_runner().invoke(args=["ingest-bounces", str(folder)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == (
        "3 reports read: 1 hard bounce suppressed, 0 soft ignored, 0 unmatched, 2 unreadable"
    )
    assert set(entries(mail_app)) == {priya_id}
