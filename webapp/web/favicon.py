"""GET /favicon.ico: the site's icon, for browsers that ask for it by that name whatever the
page links (a JSON answer or an email's frame links none). Open to all: it holds no data."""

from flask import Blueprint
from flask import current_app
from flask import send_from_directory

bp = Blueprint("favicon", __name__)

# The icon changes with a release at most; a browser need not ask again for a week.
MAX_AGE_SECONDS = 7 * 24 * 3600


@bp.get("/favicon.ico")
def icon():
    """The icon (the QR mark at 16, 32 and 48 px), cached for a week."""
    response = send_from_directory(
        current_app.static_folder, "favicon.ico", mimetype="image/x-icon", max_age=MAX_AGE_SECONDS
    )
    response.cache_control.public = True
    return response
