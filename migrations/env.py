"""Alembic's environment: runs migrations on the engine that webapp/infra/schema.py hands over,
or, given none, on DATABASE_URL."""

from alembic import context

from webapp.core.models import Base
from webapp.infra.database import make_engine
from webapp.infra.schema import include_object
from webapp.infra.settings import Settings


def run() -> None:
    config = context.config
    given = config.attributes.get("engine")
    engine = given or make_engine(Settings.from_env().DATABASE_URL)
    try:
        _migrate(engine)
    finally:
        if given is None:
            engine.dispose()


def _migrate(engine) -> None:
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            include_object=include_object(connection.dialect.name),
            # SQLite alters a table by copying it; Alembic's batch mode does that for us.
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()


run()
