"""How a report writes its numbers and changes, in one place so every sentence, table and
arrow of the email agrees: one precision, one threshold for "about the same", one minus sign.

Thresholds are compared with the value as it is shown, so a chapter shown as "60.0%" is
never called "under 60.0%" and a change shown as "2.0 points" is never "about the same".
The API's JSON keeps the stored values (two decimals); this is only how the email says them.
"""

DECIMALS = 1
# A change of the average smaller than this, as shown, is "about the same" (and gets the
# level arrow); from this on it is up or down. Two points is one question in fifty.
STEADY_POINTS = 2.0
# Score bands: a word next to every colour, and what praise and advice go by.
STRONG_PERCENT = 80.0
FAIR_PERCENT = 60.0
MINUS = "\u2212"  # the minus sign, not a hyphen
UP, DOWN, LEVEL = "up", "down", "level"
ARROWS = {UP: "\u2191", DOWN: "\u2193", LEVEL: "\u2192"}


def shown(value: float) -> float:
    """The value as the report shows it."""
    return round(value, DECIMALS)


def percent(value: float) -> str:
    """86.25 -> "86.3%"; always one decimal."""
    return f"{shown(value):.{DECIMALS}f}%"


def number(value: float) -> str:
    """A magnitude with the report's precision: 3.589 -> "3.6"."""
    return f"{abs(shown(value)):.{DECIMALS}f}"


def signed(value: float) -> str:
    """+3.6, −3.6 (minus sign) or 0.0."""
    if shown(value) == 0:
        return number(0.0)
    return ("+" if value > 0 else MINUS) + number(value)


def band(value: float) -> str:
    """strong, fair or "needs work", by the percent as shown."""
    value = shown(value)
    if value >= STRONG_PERCENT:
        return "strong"
    return "fair" if value >= FAIR_PERCENT else "needs work"


def direction(points: float) -> str:
    """UP, DOWN or LEVEL for a change of the average in points."""
    if abs(shown(points)) < STEADY_POINTS:
        return LEVEL
    return UP if points > 0 else DOWN


def average_change(points: float) -> str:
    """ "up 3.6 points", "down 3.6 points" or "about the same"."""
    way = direction(points)
    if way == LEVEL:
        return "about the same"
    return f"{way} {number(points)} points"


def quizzes_change(delta: int) -> str:
    """ "2 more quizzes", "1 fewer quiz" or "the same number of quizzes"."""
    if delta == 0:
        return "the same number of quizzes"
    more = "more" if delta > 0 else "fewer"
    return f"{abs(delta)} {more} {'quiz' if abs(delta) == 1 else 'quizzes'}"


def joined(items: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
