"""Quiz Reports: monthly quiz reports for every learner, built and mailed by Huey workers."""

import secrets
from pathlib import Path

from flask import Flask

from webapp import db
from webapp.config import ROOT
from webapp.config import Config


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

    db.init_app(app)

    from webapp.extensions import csrf
    from webapp.extensions import login_manager

    csrf.init_app(app)
    login_manager.init_app(app)

    from webapp import api
    from webapp import api_tokens
    from webapp import auth
    from webapp import cli
    from webapp import dashboard
    from webapp import errors
    from webapp import learners
    from webapp import outbox
    from webapp import preview
    from webapp import run_page
    from webapp import timefmt
    from webapp import web

    app.register_blueprint(api.bp)
    for module in (auth, dashboard, run_page, learners, preview, outbox, api_tokens):
        app.register_blueprint(module.bp)
    auth.init_app(app)
    timefmt.init_app(app)
    web.init_app(app)
    errors.init_app(app)
    cli.init_app(app)
    return app
