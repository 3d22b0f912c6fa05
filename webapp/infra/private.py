"""The instance's files are its owner's alone: the SQLite databases, the queue's file, the
outbox and the generated secrets are created 0600, their folders 0700, whatever the umask.

Every place that creates one goes through here. Files that exist already keep their mode:
a database the quiz platform shares may be readable by a group on purpose.
"""

import contextlib
import os
from pathlib import Path

FILE_MODE = 0o600
FOLDER_MODE = 0o700


def folder(path: str | os.PathLike) -> Path:
    """`path` as a folder, created 0700 (and each missing parent too) if it is not there."""
    path = Path(path)
    missing = [p for p in (path, *path.parents) if not p.exists()]
    # Top down: Path.mkdir(parents=True) would give the parents the umask's mode.
    for each in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it first
            each.mkdir(mode=FOLDER_MODE)
    return path


def file(path: str | os.PathLike) -> Path:
    """`path`, created empty and 0600 if it is not there (its folder as folder() makes it).

    For SQLite files: SQLite creates them 0644, and gives a database's -wal and -shm files
    the database's own mode, so a database created here stays private with them.
    """
    path = Path(path)
    folder(path.parent)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    return path


def open_new(path: str | os.PathLike):
    """A new file at `path`, 0600, open for writing bytes; FileExistsError if it exists."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE), "wb")


def write(path: str | os.PathLike, text: str) -> None:
    """Write `text` to `path` as a 0600 file, replacing any file there at once."""
    path = Path(path)
    folder(path.parent)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temp.unlink(missing_ok=True)  # left by a process that died mid-write
    with open_new(temp) as fh:
        fh.write(text.encode())
    os.replace(temp, path)
