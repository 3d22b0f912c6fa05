"""The Huey instance: Redis in production (REDIS_URL), embedded SQLite otherwise.

Built from the environment at import because `huey_consumer tasks.huey` imports it
before any Flask app exists; it imports nothing else from webapp.
"""

import os
from pathlib import Path

from huey import RedisHuey
from huey import SqliteHuey

from webapp.infra.settings import INSTANCE

QUEUE_NAME = os.environ.get("HUEY_NAME", "quiz-reports")


def make_huey():
    """RedisHuey when REDIS_URL is set, SqliteHuey at HUEY_SQLITE_PATH otherwise."""
    immediate = os.environ.get("HUEY_IMMEDIATE", "").lower() in {"1", "true", "yes"}
    redis_url = os.environ.get("REDIS_URL")
    if redis_url:
        return RedisHuey(QUEUE_NAME, url=redis_url, immediate=immediate)
    path = Path(os.environ.get("HUEY_SQLITE_PATH", INSTANCE / "huey.sqlite3"))
    path.parent.mkdir(parents=True, exist_ok=True)
    # timeout: seconds a writer waits on SQLite's lock while web and workers share the file.
    return SqliteHuey(QUEUE_NAME, filename=str(path), immediate=immediate, timeout=30)


huey = make_huey()
