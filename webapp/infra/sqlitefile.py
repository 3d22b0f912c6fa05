"""One SQLite file that many threads and processes write: the embedded queue's file, which also
holds the send rate limiter's and the sign-in throttle's counters.

A connection per thread (sqlite3 connections are not for sharing between threads), opened
afresh after a fork, and a write transaction that takes the file's lock before it reads, so
a decision made inside it is atomic across every process.
"""

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

from webapp.infra import private

# Connections opened before a fork: closing them in the child could disturb the parent's
# locks and WAL, so the child keeps them referenced and never touches them.
_inherited: list = []

# The same busy timeout as the Huey queue in this file: workers and web share it.
BUSY_TIMEOUT = 30.0


class SqliteFile:
    """Per-thread connections to one file whose tables `schema` creates when missing."""

    def __init__(self, path: str | os.PathLike, schema: str) -> None:
        self.path = Path(path)
        self.schema = schema
        self._lock = threading.Lock()
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._pid = os.getpid()

    def connection(self) -> sqlite3.Connection:
        """This thread's connection, opened (and the tables made) on first use."""
        if self._pid != os.getpid():
            # The parent's lock may have been held at the fork: start afresh, lock included.
            _inherited.extend(self._conns)
            self._lock, self._local = threading.Lock(), threading.local()
            self._conns, self._pid = [], os.getpid()
        conn = getattr(self._local, "conn", None)
        if conn is None:
            private.file(self.path)  # owner-only, like every instance file
            conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
            )
            # Failing means another connection holds a lock; Huey switches the file to WAL anyway.
            with contextlib.suppress(sqlite3.OperationalError):
                conn.execute("PRAGMA journal_mode=wal")
            # Counters lost to a power cut matter little; no fsync per decision.
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(self.schema)
            self._local.conn = conn
            with self._lock:
                self._conns.append(conn)
        return conn

    @contextlib.contextmanager
    def immediate(self) -> Iterator[sqlite3.Connection]:
        """A write transaction holding the file's lock from its first statement: what is read
        inside it cannot change before it commits."""
        conn = self.connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        """Close the connections this process opened."""
        with self._lock:
            conns, self._conns = self._conns, []
            self._local = threading.local()
        for conn in conns:
            conn.close()
