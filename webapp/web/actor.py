"""Who is acting in this request, for the audit trail: the signed-in account or the API
token's owner, with the client's address (the real one behind TRUSTED_PROXIES: the app
factory's ProxyFix has already put it in remote_addr)."""

from flask import g
from flask import request
from flask_login import current_user

from webapp.core.audit import Actor

# The API's auth sets g.api_user to the token's owner; pages use Flask-Login's user.
API_USER = "api_user"


def current_actor() -> Actor:
    """The Actor of this request; an anonymous one (label "anonymous") before sign-in."""
    source = request.remote_addr or ""
    user = g.get(API_USER)
    if user is not None:
        return Actor(f"{user.email or user.username} (API token)", user.id, source)
    if current_user.is_authenticated:
        return Actor(current_user.email or current_user.username, current_user.id, source)
    return Actor("anonymous", None, source)
