"""Quiz Reports: monthly quiz reports for every learner, built and mailed by Huey workers."""

import secrets
from pathlib import Path

from flask import Flask

from webapp.infra import database
from webapp.infra.settings import ROOT
from webapp.infra.settings import Config


class ConfigError(RuntimeError):
    """The app cannot start with these settings; the text says which one."""


def _secret_key(app: Flask) -> str:
    # Development keeps a random key in the instance folder so sessions survive a
    # restart; production must be given one and refuses to start without it.
    if app.config.get("SECRET_KEY"):
        return app.config["SECRET_KEY"]
    if app.config["ENV"] == "production":
        raise ConfigError("SECRET_KEY must be set in production.")
    path = Path(app.config["INSTANCE_PATH"]) / "secret_key"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def create_app(config: dict | None = None) -> Flask:
    """Build the web app; tests pass their own settings in `config`."""
    settings = Config()
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=settings.INSTANCE_PATH,
    )
    app.config.from_mapping(settings.as_mapping())
    if config:
        app.config.from_mapping(config)
    app.config["SECRET_KEY"] = _secret_key(app)
    if app.config["ENV"] == "production" and app.config["DATABASE_URL"].startswith("sqlite"):
        app.logger.warning("Production mode on SQLite: one machine only.")

    database.init_app(app)

    from webapp.web.extensions import csrf
    from webapp.web.extensions import login_manager

    csrf.init_app(app)
    login_manager.init_app(app)

    from webapp import cli
    from webapp.web import api
    from webapp.web import api_tokens
    from webapp.web import auth
    from webapp.web import dashboard
    from webapp.web import errors
    from webapp.web import filters
    from webapp.web import learners
    from webapp.web import outbox
    from webapp.web import pages
    from webapp.web import preview
    from webapp.web import run_page

    app.register_blueprint(api.bp)
    for module in (auth, dashboard, run_page, learners, preview, outbox, api_tokens):
        app.register_blueprint(module.bp)
    auth.init_app(app)
    filters.init_app(app)
    pages.init_app(app)
    errors.init_app(app)
    cli.init_app(app)
    return app
