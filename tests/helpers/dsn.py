"""Bounce reports as mail servers send them (RFC 3464 delivery status notifications), built
with the standard library, and the Maildir folders and mbox files they are delivered into."""

import mailbox
from email.message import Message
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path


def dsn(
    recipient: str,
    *,
    action: str = "failed",
    status: str = "5.1.1",
    diagnostic: str = "smtp; 550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown",
    message_id: str | None = None,
    returned: str = "headers",
) -> bytes:
    """A bounce report for one recipient. returned: how the original message comes back,
    "headers" (text/rfc822-headers, as Postfix does), "message" (message/rfc822) or "none"."""
    report = MIMEMultipart("report", report_type="delivery-status")
    report["From"] = "MAILER-DAEMON@mx.example.net (Mail Delivery System)"
    report["To"] = "reports@quiz.example"
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report["Message-ID"] = "<20261203093000.4F1B2@mx.example.net>"
    words = "I'm sorry to have to inform you that your message could not be delivered."
    report.attach(MIMEText(words, "plain"))
    per_message = Message()
    per_message["Reporting-MTA"] = "dns; mx.example.net"
    per_message["Arrival-Date"] = "Thu, 3 Dec 2026 09:29:58 +0000"
    per_recipient = Message()
    per_recipient["Final-Recipient"] = f"rfc822; {recipient}"
    per_recipient["Original-Recipient"] = f"rfc822;{recipient}"
    per_recipient["Action"] = action
    per_recipient["Status"] = status
    per_recipient["Remote-MTA"] = "dns; mail.example.test"
    per_recipient["Diagnostic-Code"] = diagnostic.format(rcpt=recipient)
    status_part = Message()
    status_part.set_type("message/delivery-status")
    status_part.set_payload([per_message, per_recipient])
    report.attach(status_part)
    original = Message()
    original["From"] = "Quiz Reports <reports@quiz.example>"
    original["To"] = recipient
    original["Subject"] = "Your quiz report — December 2024"
    if message_id:
        original["Message-ID"] = message_id
    if returned == "headers":
        report.attach(MIMEText(original.as_string(), "rfc822-headers"))
    elif returned == "message":
        original.set_payload("Hello")
        report.attach(MIMEMessage(original))
    return report.as_bytes()


def not_a_report() -> bytes:
    """An out-of-office reply: mail in the bounce folder that is not a bounce report."""
    return (
        b"From: priya@example.test\r\nTo: reports@quiz.example\r\n"
        b"Subject: Out of office\r\n\r\nI am away until Monday.\r\n"
    )


def write_maildir(folder: Path, messages: list[bytes]) -> Path:
    """A Maildir folder (cur/, new/, tmp/) holding the messages, as delivered."""
    box = mailbox.Maildir(folder, create=True)
    for raw in messages:
        box.add(raw)
    box.close()
    return folder


def write_mbox(path: Path, messages: list[bytes]) -> Path:
    """An mbox file holding the messages."""
    box = mailbox.mbox(path, create=True)
    for raw in messages:
        box.add(raw)
    box.flush()
    box.close()
    return path
