"""Workers: the consumers heard from in the last day, alive or silent, and what each does."""

from flask import Blueprint

from webapp.core import workers
from webapp.core.clock import utcnow
from webapp.web.access import require_staff
from webapp.web.htmx import render
from webapp.web.services import db_session

bp = Blueprint("workers", __name__, url_prefix="/workers")
bp.before_request(require_staff)


@bp.get("")
def index():
    """Every consumer's last beat; htmx refreshes the table every BEAT_SECONDS."""
    now = utcnow()
    rows = [
        {"beat": row, "silent": workers.is_silent(row, now), "age": (now - row.beat_at)}
        for row in workers.listed(db_session)
    ]
    alive = sum(not r["silent"] for r in rows)
    context = {"rows": rows, "alive": alive, "every": int(workers.BEAT_SECONDS)}
    return render("workers/index.html", "workers/_table.html", **context)
