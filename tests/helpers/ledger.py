"""An in-process view of a database that a test's processes share: read the ledger, and write
to it as an admin's action would."""

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.helpers.apps import close_app
from tests.helpers.apps import make_test_config
from webapp.app import create_app
from webapp.core.clock import utcnow
from webapp.core.context import Context
from webapp.core.models import Delivery
from webapp.core.models import ReportRun
from webapp.core.models import User
from webapp.web.services import get_session


class LedgerView:
    """The database at `url`, through a test app of its own; close() when done."""

    def __init__(self, tmp_path: Path, url: str):
        self.app = create_app(make_test_config(tmp_path, DATABASE_URL=url))

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A fresh session on the shared database."""
        with self.app.app_context():
            yield get_session()

    @contextmanager
    def context(self) -> Iterator[Context]:
        """A core context on the shared database, as a task gets one."""
        with self.session() as session:
            rt = self.app.extensions["runtime"]
            yield Context(session=session, settings=rt.settings, store=rt.kv)

    def run(self, task_id: str) -> ReportRun:
        """The run with this task id."""
        with self.session() as s:
            return s.scalar(select(ReportRun).where(ReportRun.task_id == task_id))

    def states(self, run_id: int | None = None) -> Counter:
        """How many deliveries (of one run, or of all) are in each state."""
        with self.session() as s:
            q = select(Delivery.state, func.count()).group_by(Delivery.state)
            if run_id is not None:
                q = q.where(Delivery.run_id == run_id)
            return Counter(dict(s.execute(q).all()))

    def deliveries(self, month: str) -> dict[str, Delivery]:
        """The month's ledger rows by learner address."""
        with self.session() as s:
            rows = s.execute(
                select(User.email, Delivery)
                .join(User, User.id == Delivery.user_id)
                .where(Delivery.month == month)
            ).all()
            return {email.lower(): d for email, d in rows}

    def count_runs(self) -> int:
        """How many runs there are."""
        with self.session() as s:
            return s.scalar(select(func.count()).select_from(ReportRun))

    def quiet_for(self, seconds: float) -> bool:
        """No delivery holds a live claim and nothing in the ledger changed for `seconds`."""
        now = utcnow()
        with self.session() as s:
            live = s.scalar(
                select(func.count())
                .select_from(Delivery)
                .where(Delivery.state == "sending", Delivery.lease_until >= now)
            )
            last = s.scalar(select(func.max(Delivery.updated_at)))
        return live == 0 and (last is None or (now - last).total_seconds() > seconds)

    def close(self) -> None:
        """Close the view's engine."""
        close_app(self.app)
