"""Each recent month's standing in the ledger: how many of its reports were delivered, failed,
or are still waiting, e.g. "October 2026: 200 of 200 delivered, 0 failed".

One GROUP BY over the ledger (delivery) for the months asked, whatever the number of
learners; the ledger has one row a learner a month, so the counts are learners.
"""

from dataclasses import dataclass
from dataclasses import field

from sqlalchemy import Select
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.core.models import Delivery
from webapp.core.months import Month
from webapp.core.states import DELIVERY_OPEN
from webapp.core.states import DeliveryKind
from webapp.core.states import DeliveryState

RECENT_MONTHS = 6


def _n(count: int, word: str) -> str:
    return f"{count:,} {word}"


@dataclass(frozen=True)
class MonthStanding:
    """The ledger's counts of one month's reports, by delivery state."""

    month: Month
    counts: dict[DeliveryState, int] = field(default_factory=dict)

    def of(self, *states: DeliveryState) -> int:
        """How many of the month's reports are in any of `states`."""
        return sum(self.counts.get(state, 0) for state in states)

    @property
    def total(self) -> int:
        """Every report of the month the ledger holds: one a learner some run tried to mail."""
        return sum(self.counts.values())

    @property
    def delivered(self) -> int:
        return self.of(DeliveryState.SENT)

    @property
    def failed(self) -> int:
        return self.of(DeliveryState.FAILED)

    @property
    def complete(self) -> bool:
        """True when every report the ledger holds for the month was delivered."""
        return self.total > 0 and self.delivered == self.total

    def words(self) -> str:
        """ "200 of 200 delivered, 0 failed", then whatever else is not settled, if any."""
        if not self.total:
            return "no report sent yet"
        parts = [
            f"{self.delivered:,} of {self.total:,} delivered",
            _n(self.failed, "failed"),
        ]
        extra = (
            (self.of(*DELIVERY_OPEN), "waiting to be sent"),
            (self.of(DeliveryState.UNKNOWN), "of unknown outcome"),
            (self.of(DeliveryState.CANCELLED), "cancelled"),
            (self.of(DeliveryState.SKIPPED), "skipped"),
        )
        parts += [_n(count, word) for count, word in extra if count]
        return ", ".join(parts)


def counts_query(first: Month, last: Month) -> Select:
    """The ledger's reports from `first` to `last` by month and state: read from the index
    ix_delivery_kind_month_state alone (about 10 ms for six months of 10,000 learners)."""
    # Months are "YYYY-MM" strings, so a range of them compares as text.
    return (
        select(Delivery.month, Delivery.state, func.count())
        .where(
            Delivery.kind == DeliveryKind.MONTHLY,
            Delivery.month >= str(first),
            Delivery.month <= str(last),
        )
        .group_by(Delivery.month, Delivery.state)
    )


def recent(session: Session, *, months: int = RECENT_MONTHS) -> list[MonthStanding]:
    """The standing of the last `months` months up to the last full one, newest first: each
    month the ledger holds reports for, and the last full month always (it is the one to send).
    The current month is left out: no run is for a month that is not over.
    """
    last = Month.last_full()
    rows = session.execute(counts_query(last.shift(1 - months), last))
    counts: dict[str, dict[DeliveryState, int]] = {str(last): {}}
    for month, state, n in rows:
        counts.setdefault(month, {})[DeliveryState(state)] = n
    return [
        MonthStanding(Month.parse(month, allow_future=True), by_state)
        for month, by_state in sorted(counts.items(), reverse=True)
    ]
