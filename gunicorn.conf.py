"""gunicorn's settings for the web app: `gunicorn wsgi:app` (Procfile, Dockerfile) reads them.

Each can be changed from the environment without editing this file."""

import os

bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")
# Requests mostly wait on the database: threads carry them cheaply.
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
timeout = 30
graceful_timeout = 20
# Access lines on stderr beside the app's own (LOG_FORMAT applies to the app's lines).
accesslog = "-"
errorlog = "-"
# Not preloaded: each worker builds its own database engine and queue connections, none
# shared across the fork. A bad setting still stops the start (the worker cannot boot).
preload_app = False
