"""The app factory: the web app, built from the settings, with its blueprints and runtime."""

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

import tasks  # noqa: F401  (declares the Huey tasks and binds them to webapp.enqueue)
from webapp import cli
from webapp.infra.runtime import Runtime
from webapp.infra.secret_key import MissingSecretKey
from webapp.infra.secret_key import secret_key
from webapp.infra.settings import ROOT
from webapp.infra.settings import Settings
from webapp.web import access
from webapp.web import account
from webapp.web import api_tokens
from webapp.web import audit
from webapp.web import auth
from webapp.web import dashboard
from webapp.web import errors
from webapp.web import favicon
from webapp.web import filters
from webapp.web import health
from webapp.web import inputs
from webapp.web import learners
from webapp.web import metrics
from webapp.web import outbox
from webapp.web import plan_export
from webapp.web import preview
from webapp.web import run_page
from webapp.web import security
from webapp.web import services
from webapp.web import suppression
from webapp.web import teaching
from webapp.web import unsubscribe
from webapp.web import users
from webapp.web import workers
from webapp.web.api import openapi as api_docs
from webapp.web.api import views as api
from webapp.web.extensions import csrf
from webapp.web.extensions import login_manager

BLUEPRINTS = (
    api,
    api_docs,
    auth,
    dashboard,
    run_page,
    learners,
    preview,
    outbox,
    api_tokens,
    account,
    users,
    audit,
    workers,
    suppression,
    teaching,
    unsubscribe,
    health,
    metrics,
    favicon,
    plan_export,
)


class ConfigError(RuntimeError):
    """The app cannot start with these settings; the text says which one."""


def _secret_key(settings: Settings) -> str:
    # Development keeps a random key in the instance folder so sessions survive a
    # restart; production must be given one and refuses to start without it.
    try:
        return secret_key(settings)
    except MissingSecretKey as exc:
        raise ConfigError(str(exc)) from None


def _flask_config(settings: Settings) -> dict:
    """Flask's own settings, derived from the product's."""
    config = {
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": settings.SESSION_COOKIE_SECURE,
        "REMEMBER_COOKIE_SECURE": settings.SESSION_COOKIE_SECURE,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "WTF_CSRF_TIME_LIMIT": None,
        # No form or JSON body of this product comes near this; larger ones get a 413.
        "MAX_CONTENT_LENGTH": 1024 * 1024,
    }
    if settings.SESSION_COOKIE_SECURE:
        # The __Host- prefix makes browsers refuse the cookie unless it is Secure, for
        # path / and without a Domain: no subdomain can plant or read it.
        config["SESSION_COOKIE_NAME"] = "__Host-session"
    return config


def create_app(config: dict | None = None) -> Flask:
    """Build the web app from the environment; tests pass their own settings in `config`."""
    settings = Settings.from_env().updated(config or {}).validated()
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=settings.INSTANCE_PATH,
    )
    app.config.from_mapping(settings.as_mapping())
    app.config.from_mapping(_flask_config(settings))
    if config:
        # Flask's own keys a test sets (TESTING, WTF_CSRF_ENABLED, ...).
        app.config.from_mapping(config)
    app.config["SECRET_KEY"] = _secret_key(settings)
    if settings.is_production and settings.DATABASE_URL.startswith("sqlite"):
        app.logger.warning("Production mode on SQLite: one machine only.")

    services.init_app(app, Runtime(settings))
    csrf.init_app(app)
    login_manager.init_app(app)
    inputs.init_app(app)  # before the routes: their <int:...> take its bounded converter
    for blueprint_module in BLUEPRINTS:
        app.register_blueprint(blueprint_module.bp)
    auth.init_app(app)
    access.init_app(app)
    filters.init_app(app)
    security.init_app(app)
    errors.init_app(app)
    if settings.TRUSTED_PROXIES:
        # Behind N reverse proxies, the client's address, scheme and host are what the
        # nearest N said in X-Forwarded-*: the sign-in throttle keys on the real address,
        # and HSTS and secure cookies see https.
        n = settings.TRUSTED_PROXIES
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n)
    cli.init_app(app)
    return app
