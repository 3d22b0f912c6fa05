"""Sign-in tests' seams and helpers: counting the password hash checks that run, the
throttle's policy of a test app, and requests from a given client address."""

import threading

from flask import Flask

from webapp.core import accounts
from webapp.infra.attempts import AttemptPolicy
from webapp.infra.attempts import attempt_limiter_for


class HashChecks:
    """Every call of the password hash check (core/accounts.py's check_password_hash): the
    stored hash each was given, and the most that ran at once."""

    def __init__(self, monkeypatch, hold: threading.Event | None = None) -> None:
        self.hashes: list[str] = []
        self.running = self.most_at_once = 0
        self.hold = hold
        self._lock = threading.Lock()
        real = accounts.check_password_hash

        def counted(stored: str, password: str) -> bool:
            with self._lock:
                self.hashes.append(stored)
                self.running += 1
                self.most_at_once = max(self.most_at_once, self.running)
            try:
                if self.hold is not None:
                    self.hold.wait(timeout=10)
                return real(stored, password)
            finally:
                with self._lock:
                    self.running -= 1

        monkeypatch.setattr(accounts, "check_password_hash", counted)

    @property
    def count(self) -> int:
        return len(self.hashes)


def set_policy(app: Flask, **policy) -> None:
    """Give a test app's throttle another policy (infra/attempts.AttemptPolicy), on the same
    store."""
    runtime = app.extensions["runtime"]
    runtime.attempts.close()
    runtime.attempts = attempt_limiter_for(runtime.settings, AttemptPolicy(**policy))


def from_address(address: str) -> dict:
    """Keyword arguments of a test-client request that comes from `address`."""
    return {"environ_base": {"REMOTE_ADDR": address}}
