"""A run's plan: who it would mail and who it would skip, and what that means in words.

launch.plan() writes one; a dry run shows it with its warnings, and a start whose plan
mails nobody is refused with nothing_to_send(), so that no empty run is ever written.
"""

from collections import Counter
from dataclasses import dataclass
from dataclasses import field

from webapp.core.months import Month


def already_sent(month: Month) -> str:
    """Why a learner whose report went out is skipped: counted apart, as "has their report"."""
    return f"report for {month.label} already sent"


def _learners(n: int) -> str:
    return f"{n:,} learner" if n == 1 else f"{n:,} learners"


@dataclass
class Plan:
    """Who a run would mail and who it would skip, with the reason, before anything is sent."""

    month: Month
    to_send: list[tuple[int, str, str]] = field(default_factory=list)  # id, name, email
    skipped: list[tuple[int, str, str]] = field(default_factory=list)  # id, name, reason
    # Why learners are skipped, counted: the suppression list's reasons by kind, without
    # each learner's date, so a long list makes three lines, not one a day.
    tally: Counter = field(default_factory=Counter)
    # The skipped learners' addresses, by id, for the dry run's CSV (the lists keep their
    # shape: the API serializes them as they are).
    skipped_emails: dict[int, str | None] = field(default_factory=dict)
    # Of the learners looked at, how many have at least one attempt in the month.
    active: int = 0
    skip_empty: bool = False

    @property
    def learners(self) -> int:
        """How many learners the plan looked at."""
        return len(self.to_send) + len(self.skipped)

    def nothing_to_send(self) -> str:
        """Why a start of this plan mails nobody, e.g. "Nothing to send: all 200 learners
        already have their October 2026 report."; for a plan whose to_send is empty."""
        label = self.month.label
        if not self.learners:
            return f"Nothing to send: there are no learners to report on for {label}."
        have = self.tally.get(already_sent(self.month), 0)
        if have == self.learners:
            everyone = "the only learner already has" if have == 1 else f"all {have:,} learners"
            verb = "" if have == 1 else " already have"
            return f"Nothing to send: {everyone}{verb} their {label} report."
        parts = []
        if have:
            parts.append(f"{_learners(have)} already {'has' if have == 1 else 'have'} a report")
        for reason, n in self.tally.most_common():
            if reason != already_sent(self.month):
                parts.append(f"{n:,} skipped: {reason}")
        return f"Nothing to send for {label}: " + "; ".join(parts) + "."

    def warnings(self) -> list[str]:
        """What a dry run says before its lists, so that nobody is mailed by surprise."""
        label = self.month.label
        notes = []
        if not self.month.is_over:
            notes.append(
                f"{label} is not over yet: this dry run is only a preview. A run for it is "
                f"refused until the month has ended (from 1 {self.month.next().label}, UTC), "
                "so that no learner gets a partial report."
            )
        if self.learners and not self.active:
            one = self.learners == 1  # a dry run for one learner
            if self.skip_empty:
                outcome = "empty reports are skipped, so nobody would be mailed"
            else:
                outcome = f"{'the' if one else 'every'} report would say there was no activity"
            who = "This learner has no attempt" if one else "No learner has an attempt"
            notes.append(f"{who} in {label}: {outcome}.")
        if self.month.is_over and not self.to_send:
            notes.append(self.nothing_to_send())
        return notes
