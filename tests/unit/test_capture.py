"""The capture server of `make run`: what lands in the outbox and how it is read back."""

from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest

from tests.helpers.smtp import send_with_smtplib
from webapp.infra.capture import count_outbox
from webapp.infra.capture import list_outbox
from webapp.infra.capture import read_captured


def test_captured_messages_are_listed_newest_first(capture, outbox):
    before = datetime.now(UTC) - timedelta(seconds=1)
    first = send_with_smtplib(capture.port, "ada@example.test", "May report")
    second = send_with_smtplib(capture.port, "bob@example.test", "June report")

    listed = list_outbox(outbox)
    assert [m.subject for m in listed] == ["June report", "May report"]
    newest = listed[0]
    assert newest.to == "bob@example.test"
    assert newest.mail_from == "reports@quiz.example"
    assert newest.rcpt_to == ("bob@example.test",)
    assert newest.message_id == "<June-report@quiz.example>"
    assert before < listed[1].received_at <= newest.received_at <= datetime.now(UTC)

    stored = read_captured(outbox, newest.id)
    assert stored.endswith(second)
    assert stored.startswith(
        b"X-Capture-Mail-From: reports@quiz.example\r\nX-Capture-Rcpt-To: bob@example.test\r\n"
    )
    assert newest.size == len(stored)
    assert read_captured(outbox, listed[1].id).endswith(first)

    assert [m.id for m in list_outbox(outbox, limit=1, offset=1)] == [listed[1].id]
    assert count_outbox(outbox) == 2


def test_nothing_but_whole_eml_files_is_listed(capture, outbox):
    send_with_smtplib(capture.port, "ada@example.test", "Only one")
    (outbox / ".20990101T000000.000000Z-0123456789abcdef0123456789abcdef.tmp").write_bytes(b"x")
    (outbox / "notes.eml").write_bytes(b"Subject: stray\r\n\r\n")
    assert [m.subject for m in list_outbox(outbox)] == ["Only one"]


def test_an_outbox_that_does_not_exist_is_empty(tmp_path):
    assert list_outbox(tmp_path / "missing") == []


@pytest.mark.parametrize(
    "name",
    [
        "../secret",
        "../../etc/passwd",
        "/etc/passwd",
        "20241201T101112.123456Z-0123456789abcdef0123456789abcdef/../../x",
        "20241201T101112.123456Z-0123456789abcdef0123456789abcdef.eml",
        "notes",
        "",
    ],
)
def test_read_captured_refuses_names_that_are_not_ids(outbox, name):
    outbox.mkdir()
    with pytest.raises(ValueError):
        read_captured(outbox, name)


def test_read_captured_of_an_unknown_id_is_a_key_error(outbox):
    with pytest.raises(KeyError):
        read_captured(outbox, "20241201T101112.123456Z-0123456789abcdef0123456789abcdef")
