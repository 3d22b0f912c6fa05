"""SMTP_MAX_CONNECTIONS_TOTAL: a ceiling on the SMTP connections open at once across every
worker process, kept in the database they all share.

Relays limit the connections of one client, and a client here is every consumer process
together. Each of the first TOTAL rows of smtp_slot is the right of one connection to be
open: a process takes a free row before it connects and frees it when it has closed. The
row is leased, so the slots of a process that died free themselves; a thread of each
process renews the leases of the slots it holds, so a live holder never loses one.
"""

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import Connection
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from webapp.core.clock import utcnow
from webapp.core.models import SmtpSlot

log = logging.getLogger(__name__)

# A holder renews every RENEW_SECONDS; a slot is taken over LEASE after its holder stopped.
LEASE = timedelta(seconds=60)
RENEW_SECONDS = 15.0
# A process waiting for a slot asks again after this long, doubling up to the most.
FIRST_WAIT, MOST_WAIT = 0.02, 0.5


class ConnectionSlots:
    """The TOTAL slots, as one process takes and frees them."""

    def __init__(self, connect: Callable[[], Connection], total: int) -> None:
        if total < 1:
            raise ValueError("SMTP_MAX_CONNECTIONS_TOTAL must be 1 or more")
        self.connect = connect
        self.total = total
        self.holder = f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self._held: set[int] = set()
        self._lock = threading.Lock()
        self._rows_made = False
        self._stopped = threading.Event()
        self._renewer: threading.Thread | None = None

    def acquire(self) -> int:
        """The number of a slot now held by this process; waits until one is free."""
        wait = FIRST_WAIT
        while (number := self._take()) is None:
            time.sleep(wait)
            wait = min(wait * 2, MOST_WAIT)
        with self._lock:
            self._held.add(number)
            if self._renewer is None:
                self._renewer = threading.Thread(
                    target=self._renew_until_stopped, name="smtp-slots", daemon=True
                )
                self._renewer.start()
        return number

    def release(self, number: int) -> None:
        """Free a slot this process holds (its connection is closed)."""
        with self._lock:
            self._held.discard(number)
        with self.connect() as db:
            db.execute(
                update(SmtpSlot)
                .where(SmtpSlot.number == number, SmtpSlot.holder == self.holder)
                .values(holder=None, lease_until=None)
            )
            db.commit()

    def held(self) -> set[int]:
        """The numbers of the slots this process holds."""
        with self._lock:
            return set(self._held)

    def close(self) -> None:
        """Free every slot still held and stop renewing (the pool is closing)."""
        self._stopped.set()
        renewer = self._renewer
        if renewer is not None and renewer is not threading.current_thread():
            # A renewal under way holds a connection: let it end before the process may
            # dispose of the engine it came from.
            renewer.join(RENEW_SECONDS)
        for number in self.held():
            self.release(number)

    def _free(self):
        free = (SmtpSlot.holder.is_(None)) | (SmtpSlot.lease_until < utcnow())
        return (SmtpSlot.number <= self.total) & free

    def _take(self) -> int | None:
        with self.connect() as db:
            if not self._rows_made:
                self._make_rows(db)
            free = self._free()
            candidates = db.scalars(select(SmtpSlot.number).where(free).order_by("number")).all()
            for number in candidates:
                # The condition again in the UPDATE: of two processes after the same row,
                # the second updates nothing and tries the next one.
                taken = db.execute(
                    update(SmtpSlot)
                    .where(SmtpSlot.number == number, free)
                    .values(holder=self.holder, lease_until=utcnow() + LEASE)
                ).rowcount
                db.commit()
                if taken:
                    return number
        return None

    def _make_rows(self, db: Connection) -> None:
        have = set(db.scalars(select(SmtpSlot.number)))
        missing = [{"number": n} for n in range(1, self.total + 1) if n not in have]
        if missing:
            try:
                db.execute(insert(SmtpSlot), missing)
                db.commit()
            except IntegrityError:
                db.rollback()  # another process made them at the same moment
        self._rows_made = True

    def _renew_until_stopped(self) -> None:
        while not self._stopped.wait(RENEW_SECONDS):
            held = self.held()
            if not held:
                continue
            try:
                with self.connect() as db:
                    db.execute(
                        update(SmtpSlot)
                        .where(SmtpSlot.number.in_(held), SmtpSlot.holder == self.holder)
                        .values(lease_until=utcnow() + LEASE)
                    )
                    db.commit()
            except Exception:  # noqa: BLE001  (the database is back before the lease is out)
                log.warning("could not renew the SMTP slots %s", sorted(held), exc_info=True)
