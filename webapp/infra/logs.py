"""The product's logs, for the web app and the workers alike: one line a record on stderr,
as text or (LOG_FORMAT=json) one JSON object a line, with the run, delivery and learner a
line of work is about.

The entry points configure it: wsgi.py for the web app, a consumer's start-up hook in
tasks.py for the workers. huey_consumer gives the "huey" logger a handler of its own; once
ours is in place that one is removed, so Huey's lines come out in the same format.
"""

import contextlib
import contextvars
import json
import logging
import logging.config
import threading
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime

from webapp.infra.settings import Settings

# What the current line of work is about; set around a task, a chunk and each delivery.
_RUN = contextvars.ContextVar("run_id", default=None)
_DELIVERY = contextvars.ContextVar("delivery_id", default=None)
_LEARNER = contextvars.ContextVar("user_id", default=None)
_FIELDS = (("run_id", _RUN), ("delivery_id", _DELIVERY), ("user_id", _LEARNER))

_configured = threading.Lock()
_done = False


@contextlib.contextmanager
def about(
    *, run_id: int | None = None, delivery_id: int | None = None, user_id: int | None = None
) -> Iterator[None]:
    """Every record logged inside names these ids (those given; the others stay as they were)."""
    tokens = [
        (var, var.set(value))
        for value, (_name, var) in zip((run_id, delivery_id, user_id), _FIELDS, strict=True)
        if value is not None
    ]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


class _WorkIds(logging.Filter):
    """Puts the ids of the current line of work on each record (None where unset)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in _FIELDS:
            if not hasattr(record, name):
                setattr(record, name, var.get())
        return True


class TextFormatter(logging.Formatter):
    """time level logger [thread]: message (run 3 delivery 17 learner 12)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(threadName)s]: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = [
            f"{label} {value}"
            for label, value in (
                ("run", getattr(record, "run_id", None)),
                ("delivery", getattr(record, "delivery_id", None)),
                ("learner", getattr(record, "user_id", None)),
            )
            if value is not None
        ]
        if not ids:
            return line
        first, newline, rest = line.partition("\n")
        return f"{first} ({' '.join(ids)}){newline}{rest}"


class JsonFormatter(logging.Formatter):
    """One JSON object a record: time, level, logger, message, process, thread, the ids of
    the line of work where set, and the traceback of an exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
            "thread": record.threadName,
        }
        for name, _var in _FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(settings: Settings, *, take_over_huey: bool = False) -> None:
    """Send every logger's records at LOG_LEVEL and above to stderr, in LOG_FORMAT; once a
    process. take_over_huey: drop the handler huey_consumer gave the "huey" logger."""
    global _done
    with _configured:
        if not _done:
            formatter = "json" if settings.LOG_FORMAT == "json" else "text"
            logging.config.dictConfig(
                {
                    "version": 1,
                    "disable_existing_loggers": False,
                    "filters": {"work_ids": {"()": _WorkIds}},
                    "formatters": {
                        "text": {"()": TextFormatter},
                        "json": {"()": JsonFormatter},
                    },
                    "handlers": {
                        "stderr": {
                            "class": "logging.StreamHandler",
                            "formatter": formatter,
                            "filters": ["work_ids"],
                        }
                    },
                    "root": {"level": settings.LOG_LEVEL, "handlers": ["stderr"]},
                    # aiosmtpd's line per SMTP command, and the dev server's per request at
                    # DEBUG, are noise at INFO; so are Alembic's two lines on every command
                    # that checks the schema (`db upgrade` says what it did itself).
                    "loggers": {
                        "mail.log": {"level": "WARNING"},
                        "alembic": {"level": "WARNING"},
                    },
                }
            )
            _done = True
        if take_over_huey:
            huey_log = logging.getLogger("huey")
            for handler in list(huey_log.handlers):
                huey_log.removeHandler(handler)
            huey_log.setLevel(logging.NOTSET)
