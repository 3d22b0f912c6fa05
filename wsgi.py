"""WSGI entry point: `flask --app wsgi run` or any WSGI server with `wsgi:app`."""

from webapp.app import create_app
from webapp.infra import logs

app = create_app()
logs.configure(app.extensions["runtime"].settings)
