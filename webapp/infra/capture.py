"""The capture SMTP server of `make run`: every message it receives becomes a .eml file.

Run it with `python -m webapp.infra.capture`; it reads OUTBOX_DIR and SMTP_PORT like the app does.
"""

import asyncio
import logging
import os
import re
import signal
import threading
import uuid
import weakref
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from email import policy
from email.parser import BytesHeaderParser
from pathlib import Path

from aiosmtpd.controller import Controller

from webapp.infra import logs
from webapp.infra import private
from webapp.infra.settings import Settings

log = logging.getLogger(__name__)

_STAMP_FORMAT = "%Y%m%dT%H%M%S.%fZ"
# The only names read_captured() opens: a UTC stamp and a uuid, nothing a path can hide in.
_NAME = re.compile(r"(\d{8}T\d{6}\.\d{6}Z)-[0-9a-f]{32}")
_MAX_HEADER_BYTES = 256 * 1024


class LoopbackController(Controller):
    """An aiosmtpd Controller that may bind port 0 and closes its live sessions on stop()."""

    def __init__(self, handler, hostname: str = "127.0.0.1", port: int = 0, **kwargs) -> None:
        # A fixed server name spares a DNS lookup (socket.getfqdn) on every connection.
        kwargs.setdefault("server_hostname", "localhost")
        super().__init__(handler, hostname=hostname, port=port, **kwargs)
        self._sessions: weakref.WeakSet = weakref.WeakSet()

    def factory(self):
        smtpd = super().factory()
        self._sessions.add(smtpd)
        return smtpd

    def _trigger_server(self):
        # With port 0 the OS chose the port; learn it before anything connects.
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()

    def start(self) -> None:
        try:
            super().start()
        except BaseException:
            # A port already in use leaves the loop unclosed; a failed check leaves it running.
            if self.loop.is_running():
                self.stop(no_assert=True)
            else:
                if self._thread is not None:
                    self._thread.join(timeout=5)
                    self._thread = None
                if not self.loop.is_closed():
                    self.loop.close()
            raise

    def stop(self, no_assert: bool = False) -> None:
        if self._thread is not None and self.loop.is_running():
            future = asyncio.run_coroutine_threadsafe(self._close_sessions(), self.loop)
            future.result(timeout=5)
        super().stop(no_assert)

    async def _close_sessions(self) -> None:
        # Closing transports here, while the loop still runs, lets every session finish;
        # otherwise stop() would leave sockets to the garbage collector.
        for smtpd in list(self._sessions):
            if smtpd.transport is not None:
                smtpd.transport.close()
        for _ in range(100):
            if all(smtpd.transport is None for smtpd in self._sessions):
                return
            await asyncio.sleep(0.01)


def save_message(outbox_dir: str | os.PathLike, mail_from: str, rcpt_tos, content: bytes) -> str:
    """Write one received message atomically into the outbox; its id (the file stem)."""
    # Owner-only: each file is a learner's report.
    directory = private.folder(outbox_dir)
    stem = f"{datetime.now(UTC).strftime(_STAMP_FORMAT)}-{uuid.uuid4().hex}"
    envelope = (
        f"X-Capture-Mail-From: {_one_line(mail_from)}\r\n"
        f"X-Capture-Rcpt-To: {', '.join(_one_line(r) for r in rcpt_tos)}\r\n"
    ).encode()
    temp = directory / f".{stem}.tmp"
    with private.open_new(temp) as fh:
        fh.write(envelope)
        fh.write(content)
    # A reader lists only *.eml names, so it sees the whole file or nothing.
    os.replace(temp, directory / f"{stem}.eml")
    return stem


def _one_line(value: str) -> str:
    return " ".join((value or "").split())


class CaptureHandler:
    """aiosmtpd handler that saves every message into the outbox directory."""

    def __init__(self, outbox_dir: str | os.PathLike) -> None:
        self.outbox_dir = Path(outbox_dir)

    async def handle_DATA(self, server, session, envelope) -> str:
        content = envelope.original_content or envelope.content or b""
        if isinstance(content, str):
            content = content.encode("utf-8", "surrogateescape")
        try:
            stem = save_message(self.outbox_dir, envelope.mail_from, envelope.rcpt_tos, content)
        except OSError as exc:
            log.error("could not save a captured message into %s: %s", self.outbox_dir, exc)
            return "451 4.3.0 Could not store the message"
        subject = _headers(content).get("Subject", "")
        log.info(
            "captured %s from %s to %s: %s",
            stem,
            envelope.mail_from,
            ", ".join(envelope.rcpt_tos),
            subject,
        )
        return f"250 2.0.0 Captured as {stem}"


def start_capture_server(
    outbox_dir: str | os.PathLike, host: str = "127.0.0.1", port: int = 8025
) -> Controller:
    """Start the capture server in a background thread; call .stop() on the result."""
    private.folder(outbox_dir)
    controller = LoopbackController(CaptureHandler(outbox_dir), hostname=host, port=port)
    controller.start()
    return controller


@dataclass(frozen=True)
class CapturedMessage:
    """One captured message as the outbox page lists it."""

    id: str
    received_at: datetime
    mail_from: str
    rcpt_to: tuple[str, ...]
    subject: str
    to: str
    message_id: str
    size: int


def _headers(content: bytes):
    head, _sep, _body = content.partition(b"\r\n\r\n")
    return BytesHeaderParser(policy=policy.default).parsebytes(head[:_MAX_HEADER_BYTES])


def _read_head(path: Path) -> tuple[bytes, int]:
    head = bytearray()
    with open(path, "rb") as fh:
        for line in fh:
            if line in (b"\r\n", b"\n") or len(head) > _MAX_HEADER_BYTES:
                break
            head += line
        return bytes(head), os.fstat(fh.fileno()).st_size


def _summary(directory: Path, stem: str) -> CapturedMessage:
    head, size = _read_head(directory / f"{stem}.eml")
    headers = BytesHeaderParser(policy=policy.default).parsebytes(head)
    rcpt = str(headers.get("X-Capture-Rcpt-To", ""))
    stamp = _NAME.fullmatch(stem).group(1)
    return CapturedMessage(
        id=stem,
        received_at=datetime.strptime(stamp, _STAMP_FORMAT).replace(tzinfo=UTC),
        mail_from=str(headers.get("X-Capture-Mail-From", "")),
        rcpt_to=tuple(r.strip() for r in rcpt.split(",") if r.strip()),
        subject=str(headers.get("Subject", "")),
        to=str(headers.get("To", "")),
        message_id=str(headers.get("Message-ID", "")),
        size=size,
    )


def count_outbox(outbox_dir: str | os.PathLike) -> int:
    """How many captured messages the outbox holds."""
    return len(_stems(Path(outbox_dir)))


def _stems(directory: Path) -> list[str]:
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    return [n[:-4] for n in names if n.endswith(".eml") and _NAME.fullmatch(n[:-4])]


def list_outbox(
    outbox_dir: str | os.PathLike, limit: int = 50, offset: int = 0
) -> list[CapturedMessage]:
    """Captured messages, newest first."""
    directory = Path(outbox_dir)
    stems = sorted(_stems(directory), reverse=True)[max(offset, 0) : max(offset, 0) + limit]
    messages = []
    for stem in stems:
        try:
            messages.append(_summary(directory, stem))
        except FileNotFoundError:
            continue  # removed while we listed
    return messages


def read_captured(outbox_dir: str | os.PathLike, message_id_stem: str) -> bytes:
    """The stored bytes of one captured message (envelope headers first).

    ValueError for a name that is not an outbox id; KeyError when no such message exists.
    """
    if not isinstance(message_id_stem, str) or not _NAME.fullmatch(message_id_stem):
        raise ValueError("not a captured message id")
    try:
        return (Path(outbox_dir) / f"{message_id_stem}.eml").read_bytes()
    except FileNotFoundError:
        raise KeyError(message_id_stem) from None


def main() -> int:
    """Run the capture server in the foreground until Ctrl-C or SIGTERM."""
    config = Settings.from_env()
    logs.configure(config)
    if not config.SMTP_CAPTURE:
        log.warning("SMTP_SERVER is set: the app mails there, not to this capture server")
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        controller = start_capture_server(config.OUTBOX_DIR, port=config.SMTP_PORT)
    except OSError as exc:
        log.error("cannot listen on 127.0.0.1:%s: %s", config.SMTP_PORT, exc.strerror or exc)
        return 1
    log.info("capturing mail on 127.0.0.1:%s into %s", controller.port, config.OUTBOX_DIR)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        controller.stop()
    log.info("capture server stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
