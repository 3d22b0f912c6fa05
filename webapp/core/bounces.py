"""Bounce reports that arrive after a report was accepted: RFC 3464 delivery status
notifications (multipart/report; report-type=delivery-status), read from a Maildir folder or
an mbox file (`flask --app wsgi ingest-bounces PATH`).

Each report is matched to a learner by the Message-ID of the message it returns (its
text/rfc822-headers or message/rfc822 part: every report mailed keeps its delivery's
Message-ID), or else by the address that failed (Final-Recipient). A hard bounce (Action
failed with a 5.x.x Status) puts the learner on the suppression list; soft ones (delayed, or
4.x.x) are counted and left alone. Nothing in the folder is changed, so reading it again is
harmless: learners listed already stay as they are. A message that cannot be read, or that
is not such a report, is counted as unreadable and never stops the others.
"""

import logging
import mailbox
import re
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from email import message_from_bytes
from email import policy
from email.message import Message
from email.parser import HeaderParser
from pathlib import Path

from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.core import suppression
from webapp.core.audit import Actor
from webapp.core.models import Delivery
from webapp.core.models import User
from webapp.core.states import Role
from webapp.core.states import SuppressionReason
from webapp.core.words import plural

log = logging.getLogger(__name__)

ACTOR = Actor("bounce report (ingest-bounces)")
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_BATCH = 500


class NotAMailbox(ValueError):
    """The path is neither a Maildir folder nor an mbox file."""


class NotAReport(ValueError):
    """The message is not a delivery status notification."""


@dataclass(frozen=True)
class Recipient:
    """One recipient's lines of a report: what happened to the message for that address."""

    address: str
    action: str  # failed, delayed, delivered, relayed or expanded
    status: str  # e.g. 5.1.1
    diagnostic: str  # the server's reply, e.g. "smtp; 550 5.1.1 user unknown"

    @property
    def hard(self) -> bool:
        """The address will never take mail: failed, with a permanent status."""
        return self.action == "failed" and self.status.startswith("5.")

    @property
    def detail(self) -> str:
        """The status and what the server said, for the suppression list."""
        said = f" ({self.diagnostic})" if self.diagnostic else ""
        return f"bounce report: {self.status or 'no status'}{said}"


@dataclass(frozen=True)
class Report:
    """A delivery status notification: the returned message's Message-ID, and its recipients."""

    message_id: str | None
    recipients: list[Recipient]


def _text(value) -> str:
    return " ".join(str(value or "").split())


def _after_type(value) -> str:
    # "rfc822; ana@example.org" -> "ana@example.org"; "smtp; 550 ..." -> "550 ..."
    text = _text(value)
    return text.split(";", 1)[1].strip() if ";" in text else text


def _recipient(block: Message) -> Recipient | None:
    address = _after_type(block.get("Final-Recipient") or block.get("Original-Recipient"))
    address = address.strip("<>").strip()
    if not address:
        return None
    action = _text(block.get("Action")).split(" ", 1)[0].lower()
    status = _STATUS.search(_text(block.get("Status")))
    return Recipient(
        address=address,
        action=action,
        status=".".join(status.groups()) if status else "",
        diagnostic=_text(block.get("Diagnostic-Code"))[:300],
    )


def _original_message_id(part: Message) -> str | None:
    kind = part.get_content_type()
    if kind == "text/rfc822-headers":
        headers = HeaderParser(policy=policy.compat32).parsestr(part.get_payload(decode=False))
    elif kind == "message/rfc822":
        payload = part.get_payload()
        headers = payload[0] if isinstance(payload, list) and payload else None
    else:
        return None
    value = _text(headers.get("Message-ID")) if headers is not None else ""
    return value or None


def parse_report(raw: bytes) -> Report:
    """The report in these bytes; NotAReport when they hold something else."""
    message = message_from_bytes(raw, policy=policy.compat32)
    if message.get_content_type() != "multipart/report" or not message.is_multipart():
        raise NotAReport("not a multipart/report")
    if (message.get_param("report-type") or "").lower() != "delivery-status":
        raise NotAReport("a report of another kind")
    recipients: list[Recipient] = []
    message_id = None
    for part in message.get_payload():
        if part.get_content_type() == "message/delivery-status":
            blocks = part.get_payload()
            # The first block is about the whole message; one block a recipient follows.
            for block in blocks[1:] if isinstance(blocks, list) else []:
                recipient = _recipient(block)
                if recipient is not None:
                    recipients.append(recipient)
        else:
            message_id = message_id or _original_message_id(part)
    if not recipients:
        raise NotAReport("no recipient in the delivery status")
    return Report(message_id, recipients)


def read_folder(path: Path) -> Iterator[tuple[str, bytes | None]]:
    """(key, bytes) of every message of a Maildir folder or an mbox file; bytes None for a
    message that could not be read."""
    if path.is_dir():
        if not (path / "cur").is_dir() or not (path / "new").is_dir():
            raise NotAMailbox(f"{path} is a folder but not a Maildir (it has no cur/ and new/).")
        box = mailbox.Maildir(path, factory=None, create=False)
    elif path.is_file():
        box = mailbox.mbox(path, factory=None, create=False)
    else:
        raise NotAMailbox(f"{path} is neither a Maildir folder nor an mbox file.")
    try:
        for key in box.iterkeys():
            try:
                yield str(key), box.get_bytes(key)
            except (OSError, KeyError, ValueError) as exc:
                log.warning("message %s could not be read: %s", key, exc)
                yield str(key), None
    finally:
        box.close()


@dataclass
class Ingested:
    """What a reading of bounce reports did."""

    read: int = 0
    hard: int = 0  # reports of a hard bounce for a learner
    soft: int = 0  # delayed, or temporary: left alone
    unmatched: int = 0  # hard, but for no learner we mailed
    unreadable: int = 0  # not a delivery status report, or unreadable
    already: int = 0  # learners of hard bounces who were on the list before
    suppressed: list[tuple[int, str, str]] = field(default_factory=list)  # learner, address, why
    unmatched_addresses: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line: "3 reports read: 2 hard bounces suppressed, 1 soft ignored, ..."."""
        hard = plural(self.hard, "hard bounce") + " suppressed"
        if self.already:
            hard += f" ({self.already} already on the list)"
        return (
            f"{plural(self.read, 'report')} read: {hard}, {self.soft} soft ignored, "
            f"{self.unmatched} unmatched, {self.unreadable} unreadable"
        )


def _learners_by_message_id(session: Session, message_ids: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for start in range(0, len(message_ids), _BATCH):
        rows = session.execute(
            select(Delivery.message_id, Delivery.user_id)
            .join(User, User.id == Delivery.user_id)
            .where(Delivery.message_id.in_(message_ids[start : start + _BATCH]))
            .where(User.role == Role.LEARNER)
        )
        found.update((message_id, user_id) for message_id, user_id in rows)
    return found


def _learners_by_address(session: Session, addresses: list[str]) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for start in range(0, len(addresses), _BATCH):
        rows = session.execute(
            select(func.lower(User.email), User.id)
            .where(User.role == Role.LEARNER)
            .where(func.lower(User.email).in_(addresses[start : start + _BATCH]))
            .order_by(User.id)
        )
        for address, user_id in rows:
            found.setdefault(address, []).append(user_id)
    return found


def ingest(session: Session, path: Path, actor: Actor = ACTOR) -> Ingested:
    """Read every report at `path` and list the learners of its hard bounces, audited; one
    commit at the end. NotAMailbox when `path` is neither a Maildir nor an mbox."""
    result = Ingested()
    hard_reports: list[tuple[Report, list[Recipient]]] = []
    for key, raw in read_folder(path):
        result.read += 1
        try:
            report = parse_report(raw) if raw is not None else None
        except Exception as exc:  # whatever is wrong with one message must not stop the rest
            log.info("message %s is not a readable bounce report: %s", key, exc)
            report = None
        if report is None:
            result.unreadable += 1
            continue
        hard = [r for r in report.recipients if r.hard]
        if hard:
            hard_reports.append((report, hard))
        else:
            result.soft += 1
    by_message_id = _learners_by_message_id(
        session, sorted({r.message_id for r, _h in hard_reports if r.message_id})
    )
    by_address = _learners_by_address(
        session, sorted({h.address.lower() for _r, hs in hard_reports for h in hs})
    )
    for report, hard in hard_reports:
        learners = _match(report, hard, by_message_id, by_address)
        if not learners:
            result.unmatched += 1
            result.unmatched_addresses.extend(h.address for h in hard)
            continue
        result.hard += 1
        for user_id, recipient in learners:
            reason = SuppressionReason.HARD_BOUNCE
            if suppression.add(
                session, user_id, recipient.address, reason, recipient.detail, actor
            ):
                result.suppressed.append((user_id, recipient.address, recipient.detail))
            else:
                result.already += 1
    session.commit()
    return result


def _match(report, hard, by_message_id, by_address) -> list[tuple[int, Recipient]]:
    """The learners a report's hard bounces are for: the one its message was mailed to, or
    else every learner with a failed address."""
    mailed_to = by_message_id.get(report.message_id) if report.message_id else None
    if mailed_to is not None:
        return [(mailed_to, hard[0])]
    return [(uid, h) for h in hard for uid in by_address.get(h.address.lower(), [])]
