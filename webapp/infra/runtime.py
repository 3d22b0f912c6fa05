"""What one process holds open for the product's work: the database, the key-value store, the
send rate limiter and the sign-in counters, all built from the settings once and shared by its
threads."""

from sqlalchemy.orm import Session

from webapp.infra.attempts import AttemptLimiter
from webapp.infra.attempts import attempt_limiter_for
from webapp.infra.database import make_engine
from webapp.infra.database import session_factory
from webapp.infra.kvstore import KeyValueStore
from webapp.infra.kvstore import kv_store_for
from webapp.infra.ratelimit import RateLimiter
from webapp.infra.ratelimit import limiter_for
from webapp.infra.settings import Settings


class Runtime:
    """The settings and the connections built from them; `session()` gives a new session."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # Each sending lane holds a connection, besides the tasks' and the web app's own.
        pool_size = settings.SMTP_MAX_CONNECTIONS + 4
        self.engine = make_engine(
            settings.DATABASE_URL, settings.DATABASE_BUSY_TIMEOUT, pool_size=pool_size
        )
        self._sessions = session_factory(self.engine)
        self.kv: KeyValueStore = kv_store_for(settings)
        # One limiter a process: every task of this worker draws from the same one.
        self.limiter: RateLimiter | None = limiter_for(settings)
        # The sign-in throttle's counts, beside the queue like the limiter's.
        self.attempts: AttemptLimiter = attempt_limiter_for(settings)

    def session(self) -> Session:
        """A new database session; the caller closes it."""
        return self._sessions()

    def close(self) -> None:
        """Close the connections (tests build a runtime per test)."""
        self.engine.dispose()
        self.kv.close()
        self.attempts.close()
        if self.limiter is not None:
            self.limiter.close()
