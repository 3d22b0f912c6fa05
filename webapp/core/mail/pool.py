"""The SMTP connections of one worker process, reused from task to task and capped in number.

Relays limit how many connections one client may hold, so a process never opens more than
SMTP_MAX_CONNECTIONS, however many tasks and sending lanes want one; a lane that finds none
free waits for one. A connection goes back to the pool after each lane, still logged in, so
the next chunk skips the connect, EHLO, STARTTLS and AUTH round trips.

Until one connection of the process has worked, lanes open theirs one at a time, and a
refusal that concerns every connection (a wrong password, TLS, a refused sender: a
RunStoppingError) is handed to the lanes waiting behind it instead of being tried again:
a relay sees one failed login a process, not one a lane.

With SMTP_MAX_CONNECTIONS_TOTAL (slots given), a lane also holds one of the slots shared by
every process while it sends, and its connection is closed afterwards: an idle connection
kept open would hold a slot that another process may be waiting for.
"""

import smtplib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from webapp.core.mail.slots import ConnectionSlots
from webapp.core.mail.smtp import SmtpSession
from webapp.core.mail.smtp_connect import connect
from webapp.core.mail.smtp_errors import RunStoppingError
from webapp.core.mail.smtp_settings import SmtpSettings

# How long a refusal stands for the lanes behind it; after that a lane tries again (an admin
# may have fixed the account and resumed the run without restarting the workers).
REFUSAL_SECONDS = 10.0


class SmtpPool:
    """Up to `size` SmtpSessions to one server, lent to one lane at a time."""

    def __init__(
        self, settings: SmtpSettings, size: int, shared: ConnectionSlots | None = None
    ) -> None:
        if size < 1:
            raise ValueError("SMTP_MAX_CONNECTIONS must be 1 or more")
        self.settings = settings
        self.size = size
        self.shared = shared
        self._free: list[SmtpSession] = []
        self._slots = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()
        self._proving = threading.Lock()
        self._proven = False
        self._refusal: tuple[float, RunStoppingError] | None = None

    @contextmanager
    def session(self) -> Iterator[SmtpSession]:
        """A connection of the pool (open or to be opened), back in the pool afterwards."""
        self._slots.acquire()
        try:
            number = self.shared.acquire() if self.shared else None
        except BaseException:
            self._slots.release()
            raise
        with self._lock:
            smtp = self._free.pop() if self._free else SmtpSession(self.settings, self._open)
        try:
            yield smtp
        except BaseException:
            smtp.close()
            raise
        finally:
            if number is None:
                with self._lock:
                    self._free.append(smtp)
            else:
                smtp.quit()
                self.shared.release(number)
            self._slots.release()

    def _open(self, settings: SmtpSettings) -> smtplib.SMTP:
        """Open a connection; one at a time until one has worked (see the module's words)."""
        if self._proven:
            return connect(settings)
        with self._proving:
            if self._refusal is not None:
                when, refusal = self._refusal
                if time.monotonic() - when < REFUSAL_SECONDS:
                    raise RunStoppingError(refusal.reason, refusal.code, refusal.step)
            try:
                smtp = connect(settings)
            except RunStoppingError as exc:
                self._refusal = (time.monotonic(), exc)
                raise
            self._proven, self._refusal = True, None
            return smtp

    def close(self) -> None:
        """Say QUIT on every idle connection (a worker shutting down)."""
        with self._lock:
            idle, self._free = self._free, []
        for smtp in idle:
            smtp.quit()
        if self.shared is not None:
            self.shared.close()
