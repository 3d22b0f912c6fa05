"""Every name the ledger stores for a state, a scope, a role or a kind, and the sets they form.

The enums are str-valued, so they compare equal to the strings in the database and in JSON.
The transitions between states are in webapp/core/lifecycle/.
"""

from enum import StrEnum


class RunState(StrEnum):
    """Where a report run is: queued → running ⇄ paused → done, or cancelled / failed."""

    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"


RUN_STATES = tuple(RunState)
# Still going: a month has at most one open all-learner run.
RUN_OPEN = (RunState.QUEUED, RunState.RUNNING, RunState.PAUSED)
# Workers may send for these; pause applies to them.
RUN_ACTIVE = (RunState.QUEUED, RunState.RUNNING)
# Closed for good or until an admin retries its failures.
RUN_CLOSED = (RunState.DONE, RunState.CANCELLED, RunState.FAILED)


class DeliveryState(StrEnum):
    """Where one learner's report of one month is: pending → sending → sent | failed | …"""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"
    UNKNOWN = "unknown"
    CANCELLED = "cancelled"


DELIVERY_STATES = tuple(DeliveryState)
# Still to be decided: waiting for a worker, or claimed by one.
DELIVERY_OPEN = (DeliveryState.PENDING, DeliveryState.SENDING)
# Decided: the figures of a run are counted over these.
DELIVERY_FINISHED = (
    DeliveryState.SENT,
    DeliveryState.FAILED,
    DeliveryState.SKIPPED,
    DeliveryState.UNKNOWN,
    DeliveryState.CANCELLED,
)
# A new run of the month takes these over. Not sent, not in flight, and not of unknown
# outcome: those are resent only by an admin's explicit Resend.
DELIVERY_RETAKEN = (DeliveryState.FAILED, DeliveryState.CANCELLED, DeliveryState.SKIPPED)


class RunScope(StrEnum):
    """Whom a run mails: every learner, or one."""

    ALL = "all"
    USER = "user"


class Role(StrEnum):
    """What an account is: a learner of the platform, or staff of Quiz Reports.

    Declared from least to most: each staff role may do all that the ones before it may.
    A viewer reads everything; an operator also starts, pauses, cancels, retries, resends
    and sends tests; an admin also manages API tokens, accounts and the suppression list.
    "admin" keeps the value it always had, so existing admins stay admins.
    """

    LEARNER = "user"
    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        """Its place in the order above: a learner 0, an admin the highest."""
        return list(Role).index(self)

    def at_least(self, other: "Role") -> bool:
        """True when this role may do everything `other` may."""
        return self.rank >= Role(other).rank

    @classmethod
    def of(cls, value: str | None) -> "Role | None":
        """The role a stored value names; None for a value the product does not know (the
        quiz platform may store roles of its own), which is given no access at all."""
        try:
            return cls(value)
        except ValueError:
            return None


# The accounts of Quiz Reports' own people: they may sign in to the dashboard and hold
# API tokens. Learners never may.
STAFF_ROLES = (Role.VIEWER, Role.OPERATOR, Role.ADMIN)


class DeliveryKind(StrEnum):
    """What a delivery mails; a learner gets at most one of each kind a month."""

    MONTHLY = "monthly"


class SuppressionReason(StrEnum):
    """Why a learner is on the suppression list (webapp/core/suppression.py): no report is
    mailed to them until an admin lifts the entry."""

    UNSUBSCRIBED = "unsubscribed"  # by the link in a report, or a mail client's one-click
    HARD_BOUNCE = "hard_bounce"  # the address does not exist (at RCPT, or a bounce report)
    ADMIN = "admin"  # added by an admin on the Suppression page
