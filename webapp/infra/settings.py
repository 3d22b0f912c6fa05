"""Settings, read once from the environment with safe development defaults."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
INSTANCE = Path(os.environ.get("INSTANCE_PATH", ROOT / "instance"))


def _bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def _float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value not in (None, "") else default


def default_smtp_security(port: int) -> str:
    """465 is implicit TLS, 25 and 1025 are local relays; anything else upgrades with STARTTLS."""
    if port == 465:
        return "ssl"
    if port in (25, 1025, 2525) or port > 10000:
        return "none"
    return "starttls"


class Config:
    """Every setting the product reads; one object so nothing else touches os.environ."""

    def __init__(self) -> None:
        self.ENV = os.environ.get("QUIZ_REPORTS_ENV", "development")
        self.SECRET_KEY = os.environ.get("SECRET_KEY", "")
        self.DATABASE_URL = os.environ.get(
            "DATABASE_URL", f"sqlite:///{INSTANCE / 'quiz_reports.sqlite3'}"
        )
        # SQLite only: seconds a write waits for another writer's lock; then the API says 503.
        self.DATABASE_BUSY_TIMEOUT = _float("DATABASE_BUSY_TIMEOUT", 30.0)
        self.INSTANCE_PATH = str(INSTANCE)
        self.OUTBOX_DIR = os.environ.get("OUTBOX_DIR", str(INSTANCE / "outbox"))

        self.SMTP_SERVER = os.environ.get("SMTP_SERVER", "")
        # Unset SMTP_SERVER means the built-in capture server of `make run`.
        self.SMTP_CAPTURE = not self.SMTP_SERVER
        self.SMTP_PORT = _int("SMTP_PORT", 587 if self.SMTP_SERVER else 8025)
        self.SMTP_USERNAME = os.environ.get("SMTP_USERNAME", "")
        self.SMTP_PASSWORD = os.environ.get("SMTP_PASSWORD", "")
        self.SMTP_SECURITY = os.environ.get("SMTP_SECURITY", "") or (
            default_smtp_security(self.SMTP_PORT) if self.SMTP_SERVER else "none"
        )
        self.SMTP_TIMEOUT = _float("SMTP_TIMEOUT", 30.0)
        if not self.SMTP_SERVER:
            self.SMTP_SERVER = "127.0.0.1"
        self.MAIL_FROM = os.environ.get("MAIL_FROM", "Quiz Reports <reports@quiz.example>")

        self.REPORT_CHUNK_SIZE = _int("REPORT_CHUNK_SIZE", 200)
        # The last full month's run starts by itself on this day of the month, at this hour
        # (UTC), when MONTHLY_RUN is on.
        self.MONTHLY_RUN = _bool("MONTHLY_RUN", False)
        self.MONTHLY_RUN_DAY = _int("MONTHLY_RUN_DAY", 1)
        self.MONTHLY_RUN_HOUR = _int("MONTHLY_RUN_HOUR", 6)
        self.SKIP_EMPTY_REPORTS = _bool("SKIP_EMPTY_REPORTS", False)
        self.MAX_SEND_ATTEMPTS = _int("MAX_SEND_ATTEMPTS", 5)
        self.RETRY_BASE_SECONDS = _float("RETRY_BASE_SECONDS", 30.0)
        self.LEASE_SECONDS = _int("LEASE_SECONDS", 300)
        # Seconds a run may show no progress before the reaper enqueues its pending work again.
        self.REAPER_STALL_SECONDS = _float("REAPER_STALL_SECONDS", 60.0)
        self.CIRCUIT_BREAKER_FAILURES = _int("CIRCUIT_BREAKER_FAILURES", 25)
        self.MAIL_RATE_PER_SECOND = _float("MAIL_RATE_PER_SECOND", 0.0)
        self.MAIL_RATE_PER_HOUR = _int("MAIL_RATE_PER_HOUR", 0)
        self.REDIS_URL = os.environ.get("REDIS_URL", "")
        self.DISPLAY_TIMEZONE = os.environ.get("DISPLAY_TIMEZONE", "UTC")

        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", self.ENV == "production")
        if self.SESSION_COOKIE_SECURE:
            # The __Host- prefix makes browsers refuse the cookie unless it is Secure, for
            # path / and without a Domain: no subdomain can plant or read it.
            self.SESSION_COOKIE_NAME = "__Host-session"
        self.REMEMBER_COOKIE_SECURE = self.SESSION_COOKIE_SECURE
        self.REMEMBER_COOKIE_HTTPONLY = True
        self.WTF_CSRF_TIME_LIMIT = None
        # No form or JSON body of this product comes near this; larger ones get a 413.
        self.MAX_CONTENT_LENGTH = 1024 * 1024
        self.TESTING = False

    def as_mapping(self) -> dict:
        """The settings as a plain mapping for app.config."""
        return {k: v for k, v in vars(self).items() if k.isupper()}
