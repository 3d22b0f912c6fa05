"""Error responses in words: JSON for the API, a page for the browser, never a traceback."""

from flask import Flask
from flask import current_app
from flask import jsonify
from flask import make_response
from flask import render_template
from flask import request
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import InternalServerError
from werkzeug.exceptions import ServiceUnavailable


def wants_json() -> bool:
    """API paths and clients that ask only for JSON get JSON errors."""
    if request.path.startswith("/scheduled/"):
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json" and not request.accept_mimetypes["text/html"]


def _handle_http(exc: HTTPException):
    message = exc.description or exc.name
    if wants_json():
        body = jsonify({"error": exc.name, "message": message})
    else:
        body = render_template("errors/error.html", code=exc.code, title=exc.name, message=message)
    response = make_response(body, exc.code)
    # Keep headers the exception carries (WWW-Authenticate, Allow, Retry-After).
    for key, value in exc.get_headers():
        if key.lower() != "content-type":
            response.headers[key] = value
    return response


def _handle_unexpected(exc: Exception):
    current_app.logger.exception("Unhandled error on %s %s", request.method, request.path)
    return _handle_http(
        InternalServerError(
            "Something went wrong on our side. The error has been logged; try again shortly."
        )
    )


def _handle_database_down(exc: OperationalError):
    # The transaction is rolled back with the session at teardown: nothing half-written.
    current_app.logger.warning(
        "Database unavailable on %s %s: %s", request.method, request.path, exc.orig
    )
    error = ServiceUnavailable(
        "The database is unavailable right now; nothing was changed. Try again in a minute."
    )
    response = _handle_http(error)
    response.headers["Retry-After"] = "30"
    return response


def init_app(app: Flask) -> None:
    """Register the handlers for every HTTP error and for anything unexpected."""
    app.register_error_handler(HTTPException, _handle_http)
    app.register_error_handler(OperationalError, _handle_database_down)
    app.register_error_handler(Exception, _handle_unexpected)
