"""The sign-in throttle: failed sign-ins counted per account and per client address.

The counts live in the key-value store beside the queue, so every web process sees the same
ones. A store that is down never locks admins out: the attempt is allowed and logged.
"""

import hashlib
import time

from flask import current_app
from flask import request

from webapp.web.services import store

# Failed sign-ins allowed per account and per client address in a sliding window.
FAILURE_WINDOW_SECONDS = 15 * 60
MAX_FAILURES_PER_EMAIL = 5
MAX_FAILURES_PER_ADDRESS = 30


def _keys(email: str) -> list[tuple[str, int]]:
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    return [
        (f"login-failures:email:{digest}", MAX_FAILURES_PER_EMAIL),
        (f"login-failures:addr:{request.remote_addr}", MAX_FAILURES_PER_ADDRESS),
    ]


def _recent(key: str, now: float) -> list[float]:
    stamps = store().get(key) or []
    return [t for t in stamps if now - t < FAILURE_WINDOW_SECONDS]


def wait_before_next_try(email: str) -> int:
    """Seconds until this account and address may try again; 0 when they may now."""
    now = time.time()
    try:
        waits = [
            FAILURE_WINDOW_SECONDS - (now - stamps[-limit])
            for key, limit in _keys(email)
            if len(stamps := _recent(key, now)) >= limit
        ]
    except Exception:  # noqa: BLE001  (a store that is down must not lock admins out)
        current_app.logger.warning("Sign-in throttle unavailable; allowing the attempt")
        return 0
    return int(max(waits, default=0)) + (1 if waits else 0)


def note_failure(email: str) -> None:
    """Count a failed sign-in for the account and the address."""
    now = time.time()
    try:
        for key, limit in _keys(email):
            store().put(key, [*_recent(key, now), now][-limit:])
    except Exception:  # noqa: BLE001
        current_app.logger.warning("Sign-in throttle unavailable; failure not counted")


def forget_failures(email: str) -> None:
    """Clear the account's count after a sign-in that worked."""
    try:
        store().delete(_keys(email)[0][0])
    except Exception:  # noqa: BLE001
        current_app.logger.warning("Sign-in throttle unavailable; failures not cleared")
