"""The Huey instance, built from the settings: Redis when REDIS_URL is set, else SQLite."""

from huey import Huey
from huey import RedisHuey
from huey import SqliteHuey

from webapp.infra import private
from webapp.infra.settings import Settings


def build_huey(settings: Settings) -> Huey:
    """RedisHuey on REDIS_URL, or SqliteHuey in HUEY_SQLITE_PATH; HUEY_IMMEDIATE runs in-process."""
    if settings.REDIS_URL:
        return RedisHuey(
            settings.HUEY_NAME, url=settings.REDIS_URL, immediate=settings.HUEY_IMMEDIATE
        )
    # Owner-only: the queue holds pickled task arguments.
    path = private.file(settings.HUEY_SQLITE_PATH)
    # timeout: seconds a writer waits on SQLite's lock while web and workers share the file.
    return SqliteHuey(
        settings.HUEY_NAME,
        filename=str(path),
        immediate=settings.HUEY_IMMEDIATE,
        timeout=30,
    )
