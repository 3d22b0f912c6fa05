"""Every setting of the product, read from the environment here and nowhere else.

`Settings.from_env()` is called by the entry points (the app factory, the consumer's import of
tasks.py, `make run`); everything else is handed the object it built.
"""

import dataclasses
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo
from zoneinfo import ZoneInfoNotFoundError

ROOT = Path(__file__).resolve().parent.parent.parent

_TRUE = {"1", "true", "yes", "on"}


class SettingsError(ValueError):
    """A setting has a value the product cannot use; the text names it."""


def default_smtp_security(port: int) -> str:
    """465 is implicit TLS, 25 and 1025 are local relays; anything else upgrades with STARTTLS."""
    if port == 465:
        return "ssl"
    if port in (25, 1025, 2525) or port > 10000:
        return "none"
    return "starttls"


def _zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _between(low: float, high: float = math.inf):
    return lambda value: low <= value <= high


def _variable(name: str) -> str:
    return "QUIZ_REPORTS_ENV" if name == "ENV" else name


# An address to put in an href: no spaces, quotes or angle brackets, and no other braces
# than the {quiz_id} a pattern may hold.
_PLATFORM_URL = re.compile(r"https?://[^\s\"'<>{}]+(?:\{quiz_id\}[^\s\"'<>{}]*)?")
# The dashboard's own address, which learners' unsubscribe links start with: a scheme, a host
# (and port), and an optional path prefix; no query or fragment, no trailing slash.
_PUBLIC_BASE_URL = re.compile(
    r"https?://(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?(?:/[^\s\"'<>{}?#]*[^\s\"'<>{}?#/])?"
)

_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

# (setting, what it allows in words, the check): Settings.validated() applies them in order.
_RULES = [
    ("ENV", "development or production", lambda v: v in ("development", "production")),
    ("DATABASE_BUSY_TIMEOUT", "seconds above 0", lambda v: v > 0),
    ("TASK_RETRY_DELAY", "0 seconds or more", _between(0)),
    ("SMTP_PORT", "a port from 1 to 65535", _between(1, 65535)),
    ("SMTP_SECURITY", "starttls, ssl or none", lambda v: v in ("starttls", "ssl", "none")),
    ("SMTP_TIMEOUT", "seconds above 0", lambda v: v > 0),
    ("SMTP_MAX_CONNECTIONS", "1 or more", _between(1)),
    ("SMTP_MAX_CONNECTIONS_TOTAL", "0 (no ceiling) or more", _between(0)),
    ("MAIL_FROM", "an address such as Quiz Reports <reports@example.org>", lambda v: "@" in v),
    (
        "PLATFORM_URL",
        "empty, or an http(s) address such as https://quiz.example.org or"
        " https://quiz.example.org/quiz/{quiz_id}",
        lambda v: not v or _PLATFORM_URL.fullmatch(v) is not None,
    ),
    (
        "PUBLIC_BASE_URL",
        "the dashboard's address as learners reach it, such as https://reports.example.org"
        " (production has no default: unsubscribe links in reports start with it)",
        lambda v: _PUBLIC_BASE_URL.fullmatch(v) is not None,
    ),
    ("REPORT_CHUNK_SIZE", "1 to 10000 learners", _between(1, 10_000)),
    # A 29th, 30th or 31st would skip the months that have no such day.
    ("MONTHLY_RUN_DAY", "a day from 1 to 28, which every month has", _between(1, 28)),
    ("MONTHLY_RUN_HOUR", "an hour from 0 to 23 (UTC)", _between(0, 23)),
    ("MAX_SEND_ATTEMPTS", "1 or more", _between(1)),
    ("RETRY_BASE_SECONDS", "0 seconds or more", _between(0)),
    ("LEASE_SECONDS", "1 second or more", _between(1)),
    ("REAPER_STALL_SECONDS", "seconds above 0", lambda v: v > 0),
    ("CIRCUIT_BREAKER_FAILURES", "0 (off) or more", _between(0)),
    ("MAIL_RATE_PER_SECOND", "0 (no limit) or more messages a second", _between(0, 1e9)),
    ("MAIL_RATE_PER_HOUR", "0 (no cap) or more messages an hour", _between(0)),
    ("MESSAGE_RETENTION_DAYS", "1 day or more", _between(1)),
    ("DISPLAY_TIMEZONE", "a time zone name such as Europe/Berlin", _zone),
    ("TRUSTED_PROXIES", "0 (none) to 5 proxies", _between(0, 5)),
    ("SIGNIN_CONCURRENT_CHECKS", "1 to 64 password checks", _between(1, 64)),
    ("LOG_LEVEL", "DEBUG, INFO, WARNING or ERROR", lambda v: v in _LEVELS),
    ("LOG_FORMAT", "text or json", lambda v: v in ("text", "json")),
    ("DEMO_USERS", "0 or more", _between(0)),
    ("PORT", "a port from 1 to 65535", _between(1, 65535)),
]


class _Reader:
    """Typed reads of one environment mapping; an empty value counts as unset."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ

    def text(self, name: str, default: str = "") -> str:
        value = self.environ.get(name)
        return default if value is None or value == "" else value

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.environ.get(name)
        if value is None or value == "":
            return default
        return value.strip().lower() in _TRUE

    def integer(self, name: str, default: int) -> int:
        value = self.text(name)
        try:
            return int(value) if value else default
        except ValueError:
            raise SettingsError(f"{name} must be a whole number, not {value!r}") from None

    def number(self, name: str, default: float) -> float:
        value = self.text(name)
        try:
            return float(value) if value else default
        except ValueError:
            raise SettingsError(f"{name} must be a number, not {value!r}") from None


@dataclass(frozen=True)
class Settings:
    """The product's settings; field names are the environment variables that set them."""

    ENV: str = "development"  # QUIZ_REPORTS_ENV
    SECRET_KEY: str = ""
    INSTANCE_PATH: str = str(ROOT / "instance")
    DATABASE_URL: str = ""
    # SQLite only: seconds a write waits for another writer's lock; then the API says 503.
    DATABASE_BUSY_TIMEOUT: float = 30.0
    OUTBOX_DIR: str = ""

    # The queue: Redis when REDIS_URL is set, else the embedded SQLite file.
    REDIS_URL: str = ""
    HUEY_NAME: str = "quiz-reports"
    HUEY_SQLITE_PATH: str = ""
    HUEY_IMMEDIATE: bool = False
    # Seconds before a task that met a database error runs again (it has 3 tries).
    TASK_RETRY_DELAY: float = 15.0

    SMTP_SERVER: str = "127.0.0.1"
    # Unset SMTP_SERVER means the built-in capture server of `make run`.
    SMTP_CAPTURE: bool = True
    SMTP_PORT: int = 8025
    SMTP_USERNAME: str = ""
    SMTP_PASSWORD: str = dataclasses.field(default="", repr=False)
    SMTP_SECURITY: str = "none"
    SMTP_TIMEOUT: float = 30.0
    # SMTP connections one worker process keeps open at most: each carries one message at a
    # time, so this is how many are in flight; relays limit it per client.
    SMTP_MAX_CONNECTIONS: int = 8
    # SMTP connections open at once across every worker process together; 0: no ceiling but
    # SMTP_MAX_CONNECTIONS in each. Set it to what the relay allows one client.
    SMTP_MAX_CONNECTIONS_TOTAL: int = 0
    MAIL_FROM: str = "Quiz Reports <reports@quiz.example>"
    # The quiz platform's address: quiz names in reports link to its pages when it is set.
    PLATFORM_URL: str = ""
    # The dashboard's address as learners reach it: every report's unsubscribe link (and its
    # List-Unsubscribe header) points at <PUBLIC_BASE_URL>/unsubscribe/<token>.
    PUBLIC_BASE_URL: str = "http://127.0.0.1:5000"

    REPORT_CHUNK_SIZE: int = 200
    # The last full month's run starts by itself on this day of the month, at this hour (UTC).
    MONTHLY_RUN: bool = False
    MONTHLY_RUN_DAY: int = 1
    MONTHLY_RUN_HOUR: int = 6
    SKIP_EMPTY_REPORTS: bool = False
    MAX_SEND_ATTEMPTS: int = 5
    RETRY_BASE_SECONDS: float = 30.0
    LEASE_SECONDS: int = 300
    # Seconds a run may show no progress before the reaper enqueues its pending work again.
    REAPER_STALL_SECONDS: float = 60.0
    CIRCUIT_BREAKER_FAILURES: int = 25
    MAIL_RATE_PER_SECOND: float = 0.0
    MAIL_RATE_PER_HOUR: int = 0
    # Days a sent report's mailed bytes are kept in the ledger (about 9 KB each); after that
    # the copy is removed and the row, its Message-ID and the bytes' SHA-256 stay.
    MESSAGE_RETENTION_DAYS: int = 400
    DISPLAY_TIMEZONE: str = "UTC"
    # Reverse proxies in front of the web app whose X-Forwarded-* headers are believed.
    TRUSTED_PROXIES: int = 0
    # Password checks one web process runs at once (each scrypt check takes 128 MiB); a
    # sign-in that finds them all busy is asked to try again in a moment.
    SIGNIN_CONCURRENT_CHECKS: int = 2
    # /metrics: with a token, scrapers send it as a Bearer token; without, loopback only.
    METRICS_TOKEN: str = dataclasses.field(default="", repr=False)
    LOG_LEVEL: str = "INFO"
    LOG_FORMAT: str = "text"  # or json: one JSON object a line
    SESSION_COOKIE_SECURE: bool = False

    # `make run`: its admin account, the demo learners it loads, the web app's port.
    ADMIN_EMAIL: str = "admin@quiz-reports.example"
    ADMIN_PASSWORD: str = dataclasses.field(default="", repr=False)
    DEMO_USERS: int = 200
    PORT: int = 5000

    # Test only: the failpoint at which a worker process kills itself (see infra/failpoints).
    FAULT_KILL_AT: str = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        """The settings the environment gives, with safe development defaults."""
        env = _Reader(os.environ if environ is None else environ)
        instance = Path(env.text("INSTANCE_PATH", str(ROOT / "instance")))
        smtp_server = env.text("SMTP_SERVER")
        smtp_port = env.integer("SMTP_PORT", 587 if smtp_server else 8025)
        production = env.text("QUIZ_REPORTS_ENV", "development") == "production"
        port = env.integer("PORT", 5000)
        # Development's web app listens on 127.0.0.1:PORT; production's address cannot be
        # guessed, and a wrong one would put a dead unsubscribe link in every report.
        public_url = env.text("PUBLIC_BASE_URL", "" if production else f"http://127.0.0.1:{port}")
        return cls(
            ENV=env.text("QUIZ_REPORTS_ENV", "development"),
            SECRET_KEY=env.text("SECRET_KEY"),
            INSTANCE_PATH=str(instance),
            DATABASE_URL=env.text("DATABASE_URL", f"sqlite:///{instance / 'quiz_reports.sqlite3'}"),
            DATABASE_BUSY_TIMEOUT=env.number("DATABASE_BUSY_TIMEOUT", 30.0),
            OUTBOX_DIR=env.text("OUTBOX_DIR", str(instance / "outbox")),
            REDIS_URL=env.text("REDIS_URL"),
            HUEY_NAME=env.text("HUEY_NAME", "quiz-reports"),
            HUEY_SQLITE_PATH=env.text("HUEY_SQLITE_PATH", str(instance / "huey.sqlite3")),
            HUEY_IMMEDIATE=env.flag("HUEY_IMMEDIATE"),
            TASK_RETRY_DELAY=env.number("TASK_RETRY_DELAY", 15.0),
            SMTP_SERVER=smtp_server or "127.0.0.1",
            SMTP_CAPTURE=not smtp_server,
            SMTP_PORT=smtp_port,
            SMTP_USERNAME=env.text("SMTP_USERNAME"),
            SMTP_PASSWORD=env.text("SMTP_PASSWORD"),
            SMTP_SECURITY=env.text(
                "SMTP_SECURITY", default_smtp_security(smtp_port) if smtp_server else "none"
            ),
            SMTP_TIMEOUT=env.number("SMTP_TIMEOUT", 30.0),
            SMTP_MAX_CONNECTIONS=env.integer("SMTP_MAX_CONNECTIONS", 8),
            SMTP_MAX_CONNECTIONS_TOTAL=env.integer("SMTP_MAX_CONNECTIONS_TOTAL", 0),
            MAIL_FROM=env.text("MAIL_FROM", "Quiz Reports <reports@quiz.example>"),
            PLATFORM_URL=env.text("PLATFORM_URL"),
            PUBLIC_BASE_URL=public_url.rstrip("/"),
            REPORT_CHUNK_SIZE=env.integer("REPORT_CHUNK_SIZE", 200),
            MONTHLY_RUN=env.flag("MONTHLY_RUN"),
            MONTHLY_RUN_DAY=env.integer("MONTHLY_RUN_DAY", 1),
            MONTHLY_RUN_HOUR=env.integer("MONTHLY_RUN_HOUR", 6),
            SKIP_EMPTY_REPORTS=env.flag("SKIP_EMPTY_REPORTS"),
            MAX_SEND_ATTEMPTS=env.integer("MAX_SEND_ATTEMPTS", 5),
            RETRY_BASE_SECONDS=env.number("RETRY_BASE_SECONDS", 30.0),
            LEASE_SECONDS=env.integer("LEASE_SECONDS", 300),
            REAPER_STALL_SECONDS=env.number("REAPER_STALL_SECONDS", 60.0),
            CIRCUIT_BREAKER_FAILURES=env.integer("CIRCUIT_BREAKER_FAILURES", 25),
            MAIL_RATE_PER_SECOND=env.number("MAIL_RATE_PER_SECOND", 0.0),
            MAIL_RATE_PER_HOUR=env.integer("MAIL_RATE_PER_HOUR", 0),
            MESSAGE_RETENTION_DAYS=env.integer("MESSAGE_RETENTION_DAYS", 400),
            DISPLAY_TIMEZONE=env.text("DISPLAY_TIMEZONE", "UTC"),
            TRUSTED_PROXIES=env.integer("TRUSTED_PROXIES", 0),
            SIGNIN_CONCURRENT_CHECKS=env.integer("SIGNIN_CONCURRENT_CHECKS", 2),
            METRICS_TOKEN=env.text("METRICS_TOKEN"),
            LOG_LEVEL=env.text("LOG_LEVEL", "INFO").upper(),
            LOG_FORMAT=env.text("LOG_FORMAT", "text").lower(),
            SESSION_COOKIE_SECURE=env.flag("SESSION_COOKIE_SECURE", production),
            ADMIN_EMAIL=env.text("ADMIN_EMAIL", "admin@quiz-reports.example"),
            ADMIN_PASSWORD=env.text("ADMIN_PASSWORD"),
            DEMO_USERS=env.integer("DEMO_USERS", 200),
            PORT=port,
            FAULT_KILL_AT=env.text("FAULT_KILL_AT"),
        )

    def validated(self) -> "Settings":
        """These settings, or a SettingsError naming the first variable with a value the
        product cannot use and what it allows."""
        for name, allowed, ok in _RULES:
            value = getattr(self, name)
            if not ok(value):
                shown = int(value) if isinstance(value, float) and value.is_integer() else value
                raise SettingsError(f"{_variable(name)}={shown} is not allowed: {allowed}.")
        return self

    def updated(self, values: Mapping[str, object]) -> "Settings":
        """A copy with the given settings changed; keys that are not settings are ignored."""
        names = {f.name for f in dataclasses.fields(self)}
        return dataclasses.replace(self, **{k: v for k, v in values.items() if k in names})

    def as_mapping(self) -> dict[str, object]:
        """The settings as a plain mapping (for app.config)."""
        return dataclasses.asdict(self)

    @property
    def is_production(self) -> bool:
        return self.ENV == "production"
