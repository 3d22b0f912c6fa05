"""The SQLAlchemy engine per app and a session per app context."""

from flask import Flask
from flask import current_app
from flask import g
from sqlalchemy import create_engine
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Session
from werkzeug.local import LocalProxy


class Base(DeclarativeBase):
    """Declarative base of every table of the product."""


def make_engine(url: str, busy_timeout: float = 30.0) -> Engine:
    """An engine tuned for the embedded SQLite default or a server database.

    busy_timeout: seconds a SQLite writer waits for another's lock before "database is locked".
    """
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"timeout": busy_timeout, "check_same_thread": False}
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
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def init_app(app: Flask) -> None:
    """Bind an engine to the app and close each context's session at teardown."""
    app.extensions["db_engine"] = make_engine(
        app.config["DATABASE_URL"], app.config.get("DATABASE_BUSY_TIMEOUT", 30.0)
    )
    app.teardown_appcontext(_close_session)


def engine() -> Engine:
    """The current app's engine."""
    return current_app.extensions["db_engine"]


def get_session() -> Session:
    """The session of the current app context, created on first use."""
    if "db_session" not in g:
        g.db_session = Session(engine(), expire_on_commit=False)
    return g.db_session


def _close_session(_exc: BaseException | None) -> None:
    s = g.pop("db_session", None)
    if s is not None:
        s.close()


def create_all() -> None:
    """Create every table and index that does not exist yet."""
    from webapp.core import models  # noqa: F401  (registers the tables)

    Base.metadata.create_all(engine())


db_session: Session = LocalProxy(get_session)  # type: ignore[assignment]
