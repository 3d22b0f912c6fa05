"""The key that signs sessions, CSRF tokens and learners' unsubscribe links: the same in the
web app and in every worker, since a worker signs the links that the web app checks."""

import functools
import os
import secrets
from pathlib import Path

from webapp.infra import private
from webapp.infra.settings import Settings
from webapp.infra.settings import SettingsError

FILE_NAME = "secret_key"


class MissingSecretKey(SettingsError):
    """Production was given no SECRET_KEY."""


def secret_key(settings: Settings) -> str:
    """SECRET_KEY, or in development the key kept in the instance folder (made on first use)."""
    return _key(settings.SECRET_KEY, settings.is_production, settings.INSTANCE_PATH)


@functools.cache
def _key(given: str, production: bool, instance_path: str) -> str:
    # Cached: a worker asks for every chunk it sends, and the key never changes while it runs.
    if given:
        return given
    if production:
        raise MissingSecretKey("SECRET_KEY must be set in production.")
    path = Path(instance_path) / FILE_NAME
    if not path.exists():
        private.folder(path.parent)
        # Written whole, for the owner only, under a name of its own, then linked into place:
        # of a web app and a worker starting together, one key wins and both read it whole.
        draft = path.with_name(f".{FILE_NAME}.{os.getpid()}.{secrets.token_hex(4)}")
        with private.open_new(draft) as file:
            file.write(secrets.token_hex(32).encode())
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()
