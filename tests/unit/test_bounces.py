"""Which refusals are hard bounces: the SMTP reply at RCPT, and bounce reports (RFC 3464)
built here as mail servers send them."""

import pytest

from tests.helpers.dsn import dsn
from tests.helpers.dsn import not_a_report
from webapp.core.bounces import NotAReport
from webapp.core.bounces import parse_report
from webapp.core.mail.smtp_errors import MailboxUnknownError
from webapp.core.mail.smtp_errors import PermanentRecipientError
from webapp.core.mail.smtp_errors import mailbox_unknown
from webapp.core.mail.smtp_errors import reply_error
from webapp.core.mail.smtp_settings import SmtpSettings
from webapp.infra.settings import Settings


@pytest.mark.parametrize(
    "text",
    [
        "5.1.1 <ana@example.org>: Recipient address rejected: User unknown in local table",
        "5.1.10 Recipient address has null MX",
        "5.1.1 The email account that you tried to reach does not exist.",
        "Requested action not taken: mailbox unavailable",
        "No such user here",
        "5.0.0 <ana@example.org>... User unknown",
        "unknown user: ana",
    ],
)
def test_a_reply_that_says_the_mailbox_does_not_exist_is_a_hard_bounce(text):
    assert mailbox_unknown(text) and mailbox_unknown(text.encode())


@pytest.mark.parametrize(
    "text",
    [
        "5.7.1 Message rejected as spam",
        "5.7.1 mailbox unavailable: sender blocked by policy",  # the code says policy
        "5.2.2 Mailbox full",
        "5.4.1 Relay access denied",
        "Message rejected",
        "",
    ],
)
def test_other_refusals_are_not(text):
    assert not mailbox_unknown(text)


def test_only_a_refusal_at_rcpt_is_taken_for_a_missing_mailbox():
    smtp = SmtpSettings.from_settings(Settings())
    at_rcpt = reply_error("rcpt", 550, b"5.1.1 No such user", smtp)
    assert type(at_rcpt) is MailboxUnknownError and at_rcpt.code == 550
    policy = reply_error("rcpt", 550, b"5.7.1 Refused", smtp)
    assert type(policy) is PermanentRecipientError
    # After the data the whole message was refused: not a verdict on the address.
    assert type(reply_error("data", 550, b"5.1.1 No such user", smtp)) is PermanentRecipientError
    # A temporary "user unknown" (greylisting directories) is retried, not listed.
    assert not isinstance(
        reply_error("rcpt", 450, b"4.1.1 User unknown", smtp), MailboxUnknownError
    )


@pytest.mark.parametrize("returned", ["headers", "message"])
def test_a_report_gives_the_returned_message_id_and_each_recipients_outcome(returned):
    report = parse_report(
        dsn("ana@example.org", message_id="<report.1@quiz.example>", returned=returned)
    )
    assert report.message_id == "<report.1@quiz.example>"
    [recipient] = report.recipients
    assert recipient.address == "ana@example.org"
    assert (recipient.action, recipient.status, recipient.hard) == ("failed", "5.1.1", True)
    assert recipient.diagnostic == (
        "smtp; 550 5.1.1 <ana@example.org>: Recipient address rejected: User unknown"
    )
    assert recipient.detail.startswith("bounce report: 5.1.1 (smtp; 550 5.1.1 <ana@example.org>")


@pytest.mark.parametrize(
    ("action", "status", "hard"),
    [
        ("failed", "5.1.1", True),
        ("failed", "5.2.1 (mailbox disabled)", True),
        ("delayed", "4.4.7", False),
        ("failed", "4.4.7", False),  # failed for now, says the status
        ("delivered", "2.0.0", False),
    ],
)
def test_only_a_failure_with_a_permanent_status_is_hard(action, status, hard):
    report = parse_report(dsn("ana@example.org", action=action, status=status, returned="none"))
    assert report.message_id is None
    assert report.recipients[0].hard is hard


@pytest.mark.parametrize(
    "raw",
    [
        not_a_report(),
        b"",
        b"\x00\xff\xfe garbage \x81",
        b"Content-Type: multipart/report; report-type=disposition-notification; boundary=x\r\n\r\n"
        b"--x\r\nContent-Type: text/plain\r\n\r\nread\r\n--x--\r\n",
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n"
        b"--x\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n--x--\r\n",
    ],
    ids=["autoreply", "empty", "binary", "read-receipt", "no-recipient"],
)
def test_what_is_not_a_delivery_status_report_is_said_so(raw):
    with pytest.raises(NotAReport):
        parse_report(raw)
