"""Error responses in words: JSON for the API, a page for the browser, never a traceback."""

from flask import Flask
from flask import abort
from flask import current_app
from flask import jsonify
from flask import make_response
from flask import render_template
from flask import request
from flask import url_for
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import InternalServerError
from werkzeug.exceptions import ServiceUnavailable

from webapp.core.launch import RunConflict
from webapp.web.htmx import is_htmx


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


def conflict_response(exc: RunConflict):
    """409 in words, with a link to the run that is still going."""
    link = url_for("run_page.show", run_id=exc.run.id) if exc.run is not None else None
    context = {
        "code": 409,
        "title": "A run is already going",
        "message": exc.message + " Wait for it to finish, or open it to watch or cancel it.",
        "link_url": link,
        "link_text": f"Open run #{exc.run.id}" if exc.run is not None else None,
    }
    if is_htmx():
        # The component stays as it is; the message goes to the page's notice area.
        response = make_response(render_template("errors/_notice.html", **context), 409)
        response.headers["HX-Retarget"] = "#notices"
        response.headers["HX-Reswap"] = "innerHTML"
    else:
        response = make_response(render_template("errors/error.html", **context), 409)
    response.vary.add("HX-Request")
    return response


def refusal_response(code: int, title: str, message: str, back: str, back_text: str):
    """A refused action in words: into the page's notice area for htmx (the component stays
    as it is), else a page with the way back."""
    if is_htmx():
        body = render_template("errors/_notice.html", code=code, title=title, message=message)
        response = make_response(body, code)
        response.headers["HX-Retarget"] = "#notices"
        response.headers["HX-Reswap"] = "innerHTML"
    else:
        response = error_page(code, title, message, link_url=back, link_text=back_text)
    response.vary.add("HX-Request")
    return response


def found_or_404(found, message: str):
    """`found`, or a 404 in words when it is None."""
    if found is None:
        abort(404, message)
    return found


def error_page(code: int, title: str, message: str, **links):
    """A page in words for a request that could not be done; `links` offer a way on."""
    body = render_template("errors/error.html", code=code, title=title, message=message, **links)
    return make_response(body, code)


def init_app(app: Flask) -> None:
    """Register the handlers for every HTTP error and for anything unexpected."""
    app.register_error_handler(HTTPException, _handle_http)
    app.register_error_handler(OperationalError, _handle_database_down)
    app.register_error_handler(Exception, _handle_unexpected)
