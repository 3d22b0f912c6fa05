"""WSGI entry point: `flask --app wsgi run` or any WSGI server with `wsgi:app`."""

from webapp.app import create_app

app = create_app()
