"""Flask CLI commands (being written)."""


def init_app(app):
    from webapp.db import create_all

    @app.cli.command("init-db")
    def init_db():
        """Create the tables."""
        create_all()
