"""The report month: parsing "YYYY-MM" strictly and the UTC range it covers."""

import re
from dataclasses import dataclass
from datetime import datetime

from webapp.core.clock import utcnow

# ASCII digits only: \d would also take "２０２４-１２" and other scripts' digits.
_MONTH_RE = re.compile(r"([0-9]{4})-([0-9]{2})")
MONTH_NAMES = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


class MonthError(ValueError):
    """A month that is not a valid, finished or current reporting month; the text says why."""


class MonthNotOver(MonthError):
    """A run was asked for a month that has not ended: its reports would miss the attempts
    still to come, yet count as sent, so the month's full run would pass those learners by."""


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month; its range is [first day 00:00, next month's first day 00:00) UTC."""

    year: int
    month: int

    @classmethod
    def parse(cls, value: object, *, allow_future: bool = False) -> "Month":
        """Parse "YYYY-MM"; raise MonthError with a message in words for anything else."""
        if value is None or (isinstance(value, str) and not value.strip()):
            raise MonthError("month_year is required, in the form YYYY-MM (e.g. 2024-12).")
        if not isinstance(value, str):
            raise MonthError("month_year must be a string in the form YYYY-MM (e.g. 2024-12).")
        m = _MONTH_RE.fullmatch(value.strip())
        if not m:
            raise MonthError(f"month_year {value!r} is not in the form YYYY-MM (e.g. 2024-12).")
        year, month = int(m.group(1)), int(m.group(2))
        if not 1 <= month <= 12:
            raise MonthError(f"month_year {value!r} has no month {month:02d}; use 01 to 12.")
        if year < 1970:
            raise MonthError(f"month_year {value!r} is before 1970.")
        result = cls(year, month)
        if not allow_future and result > cls.current():
            raise MonthError(f"month_year {value!r} is in the future; nothing to report yet.")
        return result

    @classmethod
    def current(cls) -> "Month":
        now = utcnow()
        return cls(now.year, now.month)

    @classmethod
    def last_full(cls) -> "Month":
        """The most recent month that has ended: the default for a run."""
        return cls.current().previous()

    def previous(self) -> "Month":
        return Month(self.year - 1, 12) if self.month == 1 else Month(self.year, self.month - 1)

    def next(self) -> "Month":
        return Month(self.year + 1, 1) if self.month == 12 else Month(self.year, self.month + 1)

    def shift(self, months: int) -> "Month":
        """The month `months` later (earlier when negative)."""
        index = self.year * 12 + self.month - 1 + months
        return Month(index // 12, index % 12 + 1)

    @property
    def is_over(self) -> bool:
        """True once the month has ended (by the clock in UTC): only then is it reported on."""
        return self.end <= utcnow()

    @property
    def start(self) -> datetime:
        return datetime(self.year, self.month, 1)

    @property
    def end(self) -> datetime:
        """The first instant of the next month (exclusive bound)."""
        return self.next().start

    @property
    def label(self) -> str:
        """The month in words, e.g. "December 2024"."""
        return f"{MONTH_NAMES[self.month - 1]} {self.year}"

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def not_over_words(month: Month) -> str:
    """Why no report is mailed for `month` yet, in words; for a month that has not ended."""
    if month > Month.current():
        return (
            f"{month.label} is in the future: there is nothing to report yet. "
            f"Pick {Month.last_full().label} or an earlier month."
        )
    return (
        f"{month.label} is not over yet: its reports would miss the attempts still to come. "
        f"Its run can start from 1 {month.next().label} (UTC); "
        f"pick {Month.last_full().label} or an earlier month."
    )


def refuse_unless_over(month: Month) -> None:
    """Raise MonthNotOver, in words, unless `month` has ended: no run mails a partial month."""
    if not month.is_over:
        raise MonthNotOver(not_over_words(month))
