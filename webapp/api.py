"""The /scheduled JSON API of the original design (being written)."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/scheduled")
