"""The database schema's version: Alembic migrations (in migrations/ beside the package) run
against the app's engine, from the command line (`flask --app wsgi db upgrade`) or a test.

The quiz platform's tables may exist before the product is installed; the first migration
creates only what is missing, and adds our indexes to them without touching their rows.
"""

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Index
from sqlalchemy import MetaData
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def _config(engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # migrations/env.py runs on this engine instead of reading a URL of its own.
    config.attributes["engine"] = engine
    return config


def include_object(dialect: str):
    """Alembic's filter of what to compare on `dialect`: an index made for one dialect only (the
    trigram indexes of PostgreSQL) is not missing on another."""

    def include(obj, _name, type_, reflected, _compare_to) -> bool:
        if type_ == "index" and isinstance(obj, Index) and not reflected:
            only_on = obj._ddl_if.dialect if obj._ddl_if is not None else None
            return only_on in (None, dialect)
        return True

    return include


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to `revision` (the newest by default)."""
    command.upgrade(_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Take the database back to `revision` (for a migration's author; rows may be lost)."""
    command.downgrade(_config(engine), revision)


def current(engine: Engine) -> str | None:
    """The revision the database is at, None when it has never been migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head() -> str:
    """The newest revision of migrations/."""
    return ScriptDirectory.from_config(_config()).get_current_head()


def stamp(engine: Engine, revision: str = "head") -> None:
    """Record `revision` without running anything: for tables made from the models directly."""
    command.stamp(_config(engine), revision)


def differences(engine: Engine, metadata: MetaData) -> list:
    """What the database lacks or has beyond `metadata` (the models); empty when the migrations
    and the models agree."""
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "include_object": include_object(connection.dialect.name),
            },
        )
        return compare_metadata(context, metadata)


def new_revision(engine: Engine, message: str) -> str:
    """Write migrations/versions/<rev>_<message>.py from the difference between the models and
    the database (at head); its path. The author reads and edits it before committing."""
    script = command.revision(_config(engine), message=message, autogenerate=True)
    return script.path
