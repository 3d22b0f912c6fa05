"""The SQLAlchemy engine: tuned for the embedded SQLite default or a server database."""

from sqlalchemy import create_engine
from sqlalchemy import event
from sqlalchemy import make_url
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker

from webapp.infra import private


def make_engine(url: str, busy_timeout: float = 30.0, pool_size: int = 5) -> Engine:
    """An engine for `url`.

    busy_timeout: seconds a SQLite writer waits for another's lock before "database is locked".
    pool_size: connections kept open; a worker's sending lanes hold one each.
    """
    if url.startswith("sqlite"):
        in_memory = url in ("sqlite://", "sqlite:///:memory:")
        database = make_url(url).database
        if not in_memory and database and not database.startswith("file:"):
            # Created here, 0600, before SQLite creates it 0644 (its -wal and -shm follow).
            private.file(database)
        pool = {} if in_memory else {"pool_size": pool_size, "max_overflow": 10}
        engine = create_engine(
            url, connect_args={"timeout": busy_timeout, "check_same_thread": False}, **pool
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            # WAL lets the web app read while a worker writes; busy_timeout makes
            # concurrent writers wait instead of failing with "database is locked".
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=pool_size, max_overflow=10)


def refresh_statistics(connection, table: str | None = None) -> None:
    """Let the query planner see the tables (or one) as they are now: after a bulk load, when
    a run has written its ledger, and hourly.

    PostgreSQL's autovacuum does this by itself, in time. SQLite never does: without
    statistics it takes an index on a two-valued column (a user's role) for a selective one,
    and a search of 100,000 learners went through it row by row at twice the cost of a scan.
    """
    if connection.dialect.name == "sqlite":
        # Sampled, as PRAGMA optimize does: milliseconds even on millions of rows.
        connection.exec_driver_sql("PRAGMA analysis_limit=1000")
    quoted = connection.dialect.identifier_preparer.quote
    connection.exec_driver_sql(f"ANALYZE {quoted(table)}" if table else "ANALYZE")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions on `engine`; objects stay readable after commit (the ledger commits often)."""
    return sessionmaker(engine, expire_on_commit=False)
