"""The app factory: settings from the environment, safe defaults, refusal in production."""

import os
import subprocess
import sys

import pytest

from tests.helpers.apps import close_app
from tests.helpers.apps import make_test_config
from webapp.app import ConfigError
from webapp.app import create_app
from webapp.infra.settings import Settings
from webapp.infra.settings import SettingsError
from webapp.infra.settings import default_smtp_security


def test_production_refuses_to_start_without_secret_key(tmp_path):
    config = make_test_config(tmp_path, ENV="production", SECRET_KEY="")
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app(config)


def test_development_keeps_a_generated_key_across_restarts(tmp_path):
    first = create_app(make_test_config(tmp_path, SECRET_KEY=""))
    second = create_app(make_test_config(tmp_path, SECRET_KEY=""))
    assert len(first.config["SECRET_KEY"]) == 64
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"]
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    for app in (first, second):
        close_app(app)


def test_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("SMTP_SERVER", "smtp.example.org")
    monkeypatch.setenv("SMTP_PORT", "465")
    monkeypatch.setenv("SMTP_USERNAME", "mailer")
    monkeypatch.setenv("REPORT_CHUNK_SIZE", "50")
    monkeypatch.setenv("SKIP_EMPTY_REPORTS", "yes")
    config = Settings.from_env()
    assert config.SMTP_SERVER == "smtp.example.org" and config.SMTP_PORT == 465
    assert config.SMTP_SECURITY == "ssl" and config.SMTP_CAPTURE is False
    assert config.REPORT_CHUNK_SIZE == 50 and config.SKIP_EMPTY_REPORTS is True


def test_unset_smtp_server_means_the_capture_server(monkeypatch):
    monkeypatch.delenv("SMTP_SERVER", raising=False)
    monkeypatch.delenv("SMTP_PORT", raising=False)
    config = Settings.from_env()
    assert config.SMTP_CAPTURE is True
    assert (config.SMTP_SERVER, config.SMTP_PORT, config.SMTP_SECURITY) == (
        "127.0.0.1",
        8025,
        "none",
    )


@pytest.mark.parametrize(("port", "security"), [(465, "ssl"), (587, "starttls"), (25, "none")])
def test_smtp_security_default_by_port(port, security):
    assert default_smtp_security(port) == security


def test_production_cookies_are_secure_and_host_prefixed(tmp_path, monkeypatch):
    monkeypatch.setenv("QUIZ_REPORTS_ENV", "production")
    assert Settings.from_env().SESSION_COOKIE_SECURE is True
    config = make_test_config(
        tmp_path,
        ENV="production",
        SESSION_COOKIE_SECURE=True,
        PUBLIC_BASE_URL="https://reports.example.org",
    )
    app = create_app(config)
    config = app.config
    assert config["SESSION_COOKIE_SECURE"] is True
    assert config["SESSION_COOKIE_NAME"] == "__Host-session"
    assert config["SESSION_COOKIE_HTTPONLY"] is True and config["SESSION_COOKIE_SAMESITE"] == "Lax"
    close_app(app)


def test_a_setting_that_is_not_a_number_is_named(monkeypatch):
    monkeypatch.setenv("REPORT_CHUNK_SIZE", "many")
    with pytest.raises(ValueError, match="REPORT_CHUNK_SIZE"):
        Settings.from_env()


@pytest.mark.parametrize(
    ("variable", "value", "allowed"),
    [
        ("MONTHLY_RUN_DAY", "31", "a day from 1 to 28"),
        ("MONTHLY_RUN_HOUR", "24", "an hour from 0 to 23"),
        ("MAIL_RATE_PER_SECOND", "-1", "0 (no limit) or more"),
        ("MAIL_RATE_PER_HOUR", "-5", "0 (no cap) or more"),
        ("SMTP_SECURITY", "tls", "starttls, ssl or none"),
        ("SMTP_PORT", "70000", "a port from 1 to 65535"),
        ("SMTP_MAX_CONNECTIONS", "0", "1 or more"),
        ("SMTP_MAX_CONNECTIONS_TOTAL", "-1", "0 (no ceiling) or more"),
        ("REPORT_CHUNK_SIZE", "0", "1 to 10000 learners"),
        ("LEASE_SECONDS", "0", "1 second or more"),
        ("DISPLAY_TIMEZONE", "Mars/Olympus_Mons", "a time zone name"),
        ("QUIZ_REPORTS_ENV", "prod", "development or production"),
        ("MAIL_FROM", "reports", "an address"),
        ("MESSAGE_RETENTION_DAYS", "0", "1 day or more"),
        ("MESSAGE_RETENTION_DAYS", "-30", "1 day or more"),
        ("PUBLIC_BASE_URL", "reports.example.org", "the dashboard's address"),
        ("PUBLIC_BASE_URL", "https://reports.example.org/?page=1", "the dashboard's address"),
        ("PUBLIC_BASE_URL", "https://reports example.org", "the dashboard's address"),
        ("PUBLIC_BASE_URL", "javascript:alert(1)", "the dashboard's address"),
    ],
)
def test_a_value_the_product_cannot_use_is_refused_at_start_with_its_name(
    monkeypatch, variable, value, allowed
):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as refused:
        Settings.from_env().validated()
    assert str(refused.value).startswith(f"{variable}={value} is not allowed: {allowed}")


def test_the_defaults_and_the_edges_of_each_range_are_allowed(monkeypatch):
    assert Settings.from_env().validated().MESSAGE_RETENTION_DAYS == 400
    for variable, value in [
        ("MONTHLY_RUN_DAY", "28"),
        ("MESSAGE_RETENTION_DAYS", "1"),
        ("MONTHLY_RUN_HOUR", "0"),
        ("DISPLAY_TIMEZONE", "Europe/Berlin"),
        ("MAIL_RATE_PER_SECOND", "0.5"),
    ]:
        monkeypatch.setenv(variable, value)
    allowed = Settings.from_env().validated()
    assert allowed.MONTHLY_RUN_DAY == 28 and allowed.MESSAGE_RETENTION_DAYS == 1


def test_the_public_address_defaults_to_the_development_server_and_production_needs_one(
    monkeypatch,
):
    monkeypatch.setenv("PORT", "5050")
    assert Settings.from_env().validated().PUBLIC_BASE_URL == "http://127.0.0.1:5050"
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://example.org/reports/")
    assert Settings.from_env().validated().PUBLIC_BASE_URL == "https://example.org/reports"
    monkeypatch.delenv("PUBLIC_BASE_URL")
    monkeypatch.setenv("QUIZ_REPORTS_ENV", "production")
    with pytest.raises(SettingsError, match="^PUBLIC_BASE_URL= is not allowed: the dashboard"):
        Settings.from_env().validated()


def test_a_retention_that_is_not_a_whole_number_of_days_is_named(monkeypatch):
    monkeypatch.setenv("MESSAGE_RETENTION_DAYS", "13 months")
    with pytest.raises(SettingsError, match="MESSAGE_RETENTION_DAYS must be a whole number"):
        Settings.from_env()


def test_a_worker_with_a_bad_setting_does_not_start_and_says_why(tmp_path):
    env = {**os.environ, "INSTANCE_PATH": str(tmp_path), "MONTHLY_RUN_DAY": "31"}
    started = subprocess.run(
        [sys.executable, "-c", "import tasks"], env=env, capture_output=True, text=True, timeout=60
    )
    assert started.returncode != 0
    assert "MONTHLY_RUN_DAY=31 is not allowed: a day from 1 to 28" in started.stderr
