"""Quiz Reports: monthly quiz reports for every learner, built and mailed by Huey workers.

Three parts: `web` (Flask: blueprints, forms, htmx fragments), `core` (the product's rules:
plain Python over a database session) and `infra` (settings, database, queue, stores).
`app.create_app` builds the web app; tasks.py is the worker. README.md, "Architecture",
draws the parts and the rules between them.

Nothing is imported here, so that a worker importing webapp.core never loads the web layer.
"""
