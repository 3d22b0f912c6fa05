"""The sign-in throttle, asked before any password is checked.

- A try is counted before its password is checked, atomically, in the store every web
  process shares (infra/attempts.py): per account and client address, with delays that grow
  after a few failures, and per address over every account. Tries past the limit are refused
  without computing a hash. A stranger's tries from their own address never make an admin
  wait at another address.
- At most SIGNIN_CONCURRENT_CHECKS password checks run at once in a process: each scrypt
  check takes 128 MiB, so a burst of sign-ins is asked to try again in a moment instead of
  queueing up memory.

The client address is `request.remote_addr`, which the app factory's ProxyFix sets from
X-Forwarded-For behind TRUSTED_PROXIES.
"""

import hashlib
import ipaddress
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from flask import Flask
from flask import current_app
from flask import request

from webapp.core.words import plural
from webapp.web.services import runtime

_CHECKS = "signin_checks"

BUSY = "Many people are signing in just now. Try again in a moment."
UNAVAILABLE = (
    "Signing in is not possible just now: Quiz Reports cannot reach its store. "
    "Try again in a minute."
)


class ThrottleUnavailable(Exception):
    """The shared counters cannot be reached: no password is checked until they can."""


def client_address() -> str:
    """The client's address as the throttle counts it: an IPv6 client by its /64, since one
    subscriber is usually given a whole /64 to pick addresses from."""
    raw = request.remote_addr or ""
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return raw[:64] or "unknown"
    if address.version == 6:
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _keys(email: str) -> tuple[str, str]:
    # The email is typed by anyone: only its digest goes into a key.
    account = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    address = client_address()
    return f"pair:{account}:{address}", f"addr:{address}"


def take_try(email: str) -> int:
    """Count a try at `email` from this client: 0 when it may go ahead, else the whole
    seconds to wait (nothing counted). ThrottleUnavailable when the store cannot answer."""
    try:
        wait = runtime().attempts.take(*_keys(email))
    except Exception as exc:
        # Refusing is safer than guessing unthrottled; the store is the queue's, and /readyz
        # says when it is down.
        current_app.logger.warning("Sign-in throttle unavailable: %s", exc)
        raise ThrottleUnavailable from exc
    return int(wait) + 1 if wait > 0 else 0


def give_back(email: str) -> None:
    """After a sign-in that worked: forget this account's failures from this address."""
    try:
        runtime().attempts.give_back(*_keys(email))
    except Exception as exc:  # noqa: BLE001  (the sign-in itself has succeeded)
        current_app.logger.warning("Sign-in throttle unavailable; failures not cleared: %s", exc)


@contextmanager
def check_slot() -> Iterator[bool]:
    """One of the process's password-check slots for the block, if one is free now: True,
    and the slot is held until the block ends; False when all are busy (nothing waits)."""
    slots: threading.BoundedSemaphore = current_app.extensions[_CHECKS]
    got = slots.acquire(blocking=False)
    try:
        yield got
    finally:
        if got:
            slots.release()


def too_many(wait: int) -> str:
    """The words for a try asked to wait `wait` seconds."""
    when = plural(wait, "second") if wait < 90 else f"about {round(wait / 60)} minutes"
    return f"Too many sign-in attempts. Wait {when}, then try again."


@dataclass(frozen=True)
class Refusal:
    """Why a password may not be checked now: the words, the status and the Retry-After."""

    message: str
    status: int
    retry_after: int


@contextmanager
def guarded(email: str) -> Iterator[Refusal | None]:
    """Around one password check for `email`: None when it may go ahead (a check slot is held
    for the block, and the try is counted), else the Refusal to answer with.

    A free slot is taken first, so a try that finds none is not counted; the try is counted
    before the block checks any password.
    """
    with check_slot() as free:
        if not free:
            yield Refusal(BUSY, 503, 1)
            return
        try:
            wait = take_try(email)
        except ThrottleUnavailable:
            yield Refusal(UNAVAILABLE, 503, 60)
            return
        yield Refusal(too_many(wait), 429, wait) if wait else None


def init_app(app: Flask) -> None:
    """Give the app its password-check slots (one set per process: the app is built once in
    each)."""
    app.extensions[_CHECKS] = threading.BoundedSemaphore(
        app.extensions["runtime"].settings.SIGNIN_CONCURRENT_CHECKS
    )
