"""Expressions the report's queries share, so that they agree to the bit."""

from sqlalchemy import Float
from sqlalchemy import and_
from sqlalchemy import case
from sqlalchemy import cast

from webapp.core.models import Score
from webapp.core.months import Month

# One expression for an attempt's percent, used by every query, so that a learner's own
# best from the chunk query is bit-for-bit the value in the run-wide best lists. The
# multiplication comes first: a*100 is exact, so equal fractions (1/2, 2/4) give equal
# doubles on SQLite and PostgreSQL alike.
PERCENT = case(
    (Score.total_questions == 0, 0.0),
    else_=cast(Score.total_scored, Float) * 100.0 / cast(Score.total_questions, Float),
)


def in_month(month: Month):
    """The month's attempts."""
    # Half-open range: 23:59:59 on the last day counts, 00:00 of the next month does not.
    return and_(Score.timestamp >= month.start, Score.timestamp < month.end)
