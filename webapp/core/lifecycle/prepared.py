"""Statements compiled once for the database's dialect and run straight on its DB-API cursor.

A message costs the ledger four one-row statements and three commits. For these, what
SQLAlchemy does around each call (an execution context, parameter and result handling) cost
five times what the database did; compiled once here, with the same type conversions
SQLAlchemy would apply, each costs about what the database does. Used for the per-message
statements only; everything else goes through SQLAlchemy as usual.
"""

import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable


@dataclass(frozen=True)
class _Compiled:
    compiled: Any  # sqlalchemy's Compiled: the SQL text and its parameters' defaults
    names: list[str] | None  # positional parameter order, or None for named parameters
    processors: dict[str, Any]  # name -> the dialect's conversion of a value, where it has one


class Prepared:
    """One statement, compiled per dialect on first use."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._by_dialect: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    def _for(self, dialect: Dialect) -> _Compiled:
        key = f"{dialect.name}+{dialect.driver}"
        with self._lock:
            found = self._by_dialect.get(key)
            if found is None:
                compiled = self.statement.compile(dialect=dialect)
                if compiled.insert_prefetch or compiled.update_prefetch:
                    # SQLAlchemy computes such defaults (onupdate=...) per call; here nobody
                    # would, so the statement must set those columns itself.
                    raise ValueError(f"set these columns explicitly: {compiled.update_prefetch}")
                if any(bind.expanding for bind in compiled.binds.values()):
                    # SQLAlchemy renders an IN list's values per call; here nobody would.
                    raise ValueError("an IN list cannot be prepared: compare each value instead")
                processors = {
                    name: bind.type.dialect_impl(dialect).bind_processor(dialect)
                    for name, bind in compiled.binds.items()
                }
                names = list(compiled.positiontup) if compiled.positional else None
                found = _Compiled(compiled, names, {k: v for k, v in processors.items() if v})
                self._by_dialect[key] = found
            return found

    def cursor(self, db: Session | Connection, params: dict):
        """Run the statement with these parameters (uncommitted); its DB-API cursor."""
        if isinstance(db, Session):
            db.flush()  # the session's own pending changes go first, as they would
            db = db.connection()
        prepared = self._for(db.dialect)
        values = prepared.compiled.construct_params(params)
        for name, process in prepared.processors.items():
            if name in values:
                values[name] = process(values[name])
        cursor = db.connection.driver_connection.cursor()
        if prepared.names is None:
            cursor.execute(prepared.compiled.string, values)
        else:
            cursor.execute(prepared.compiled.string, [values[name] for name in prepared.names])
        return cursor

    def rowcount(self, db: Session | Connection, params: dict) -> int:
        """Run the statement (uncommitted); how many rows it changed."""
        return self.cursor(db, params).rowcount

    def scalar(self, db: Session | Connection, params: dict):
        """Run the query; the first column of its first row, or None."""
        row = self.cursor(db, params).fetchone()
        return row[0] if row else None


def commit(db: Session | Connection, *, wait_for_disk: bool = True) -> None:
    """Commit what the prepared statements did, on the connection they ran on.

    wait_for_disk=False: on PostgreSQL the commit returns before its WAL is flushed (about
    a third of a run's database time at 10,000 learners went to those flushes). Only for a
    write whose loss in a crash of the database server is safe; a later commit that does
    wait flushes it too, as the WAL is written in order.
    """
    if isinstance(db, Session):
        db = db.connection()
    driver = db.connection.driver_connection
    if not wait_for_disk and db.dialect.name == "postgresql":
        driver.cursor().execute("SET LOCAL synchronous_commit TO OFF")
    driver.commit()
