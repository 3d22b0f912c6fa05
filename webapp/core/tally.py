"""A run's tally: what was attempted, how well it went, and the parts of its progress bar.

Only sent, failed and unknown reports were attempted (an SMTP conversation began): skipped
and cancelled ones were decided without one, so they are neither throughput nor success.
"""

from dataclasses import dataclass

from webapp.core.states import DELIVERY_FINISHED
from webapp.core.states import DELIVERY_OPEN
from webapp.core.states import DeliveryState

# What a send was tried for: the figures of success and of the rate are counted over these.
ATTEMPTED = (DeliveryState.SENT, DeliveryState.FAILED, DeliveryState.UNKNOWN)

# The bar is drawn on this many units across (an SVG viewBox), whatever its width on screen.
BAR_UNITS = 1000.0


@dataclass(frozen=True)
class BarPart:
    """One decided state's segment of the bar: from x, width units wide."""

    state: str
    count: int
    x: float
    width: float


def attempted(counts: dict[str, int]) -> int:
    """How many reports a send was tried for: sent, failed or of unknown outcome."""
    return sum(counts.get(state, 0) for state in ATTEMPTED)


def still_open(counts: dict[str, int]) -> int:
    """How many reports are still to be decided: waiting for a worker or being sent."""
    return sum(counts.get(state, 0) for state in DELIVERY_OPEN)


def in_flight(counts: dict[str, int]) -> int:
    """How many reports a worker is sending now: a paused run's may still finish."""
    return counts.get(DeliveryState.SENDING, 0)


def success_percent(counts: dict[str, int]) -> float | None:
    """Sent over attempted, in percent; None when nothing was attempted (no figure to give)."""
    tried = attempted(counts)
    return round(100 * counts.get(DeliveryState.SENT, 0) / tried, 1) if tried else None


def bar_parts(counts: dict[str, int], total: int) -> list[BarPart]:
    """The bar's segments, one per decided state with reports in it, in the order of
    DELIVERY_FINISHED; what is still open is the empty rest of the bar."""
    parts = []
    x = 0.0
    for state in DELIVERY_FINISHED:
        count = counts.get(state, 0)
        if not count or not total:
            continue
        width = round(BAR_UNITS * count / total, 1)
        parts.append(BarPart(str(state), count, x, width))
        x = round(x + width, 1)
    return parts
