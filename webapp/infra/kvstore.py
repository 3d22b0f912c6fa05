"""A small key-value store kept where the queue keeps its results: Redis or the SQLite file.

Huey's result storage is the store: progress snapshots and sign-in failure counts live beside
the queue, so every web and worker process sees the same values without a shared memory.
Values are JSON; reads never consume them.
"""

import json
from typing import Any

from huey.constants import EmptyData
from huey.storage import BaseStorage
from huey.storage import RedisStorage
from huey.storage import SqliteStorage

from webapp.infra import private
from webapp.infra.settings import Settings


class KeyValueStore:
    """get / put / delete of JSON values under string keys."""

    def __init__(self, storage: BaseStorage) -> None:
        self.storage = storage

    def get(self, key: str) -> Any:
        """The value under `key`, or None; the value stays in the store."""
        raw = self.storage.peek_data(key)
        if raw is EmptyData:
            return None
        try:
            return json.loads(bytes(raw))
        except ValueError:
            # A value an earlier version wrote with Huey's own (pickle) serializer: treat it
            # as absent, and the caller writes it afresh.
            return None

    def put(self, key: str, value: Any) -> None:
        """Store `value` (anything JSON can hold) under `key`, replacing what was there."""
        self.storage.put_data(key, json.dumps(value, separators=(",", ":")).encode())

    def claim(self, key: str) -> bool:
        """Set `key` if nobody has: True for exactly one of any number of callers."""
        return bool(self.storage.put_if_empty(key, b"1"))

    def put_json(self, key: str, text: str) -> None:
        """Store a value already encoded as JSON text (a large one, written as it was read)."""
        self.storage.put_data(key, text.encode())

    def delete(self, key: str) -> None:
        """Remove `key`; a missing key is not an error."""
        self.storage.delete_data(key)

    def close(self) -> None:
        """Let go of the connections."""
        self.storage.close()


def kv_store_for(settings: Settings) -> KeyValueStore:
    """The store in the queue's Redis (REDIS_URL) or in its SQLite file."""
    if settings.REDIS_URL:
        return KeyValueStore(RedisStorage(settings.HUEY_NAME, url=settings.REDIS_URL))
    path = private.file(settings.HUEY_SQLITE_PATH)
    # timeout: seconds a writer waits on SQLite's lock while web and workers share the file.
    return KeyValueStore(SqliteStorage(settings.HUEY_NAME, filename=str(path), timeout=30))
