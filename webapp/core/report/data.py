"""One learner's monthly report as typed data: what the builder computes and the email shows.

The classes are read-only by convention, not frozen: a run builds some twenty of them a
learner, and a frozen dataclass takes six times as long to construct.

The JSON of the API is written from these by an explicit serializer (webapp/web/api/
serializers.py), so a field added here never changes the public JSON by accident.
"""

from dataclasses import dataclass
from dataclasses import field

from webapp.core.months import Month


@dataclass(slots=True)
class Learner:
    """The learner a report is for."""

    id: int
    username: str
    email: str | None
    full_name: str | None
    qualification: str | None

    @property
    def display_name(self) -> str:
        return self.full_name or self.username


@dataclass(slots=True)
class Totals:
    """Attempts, questions and correct answers over some attempts, and the average."""

    attempts: int
    questions: int
    correct: int
    average_percent: float


@dataclass(slots=True)
class SubjectResult:
    """The month's totals in one subject."""

    subject_id: int
    name: str
    totals: Totals


@dataclass(slots=True)
class ChapterResult:
    """The month's totals in one chapter."""

    chapter_id: int
    name: str
    subject: str
    totals: Totals


@dataclass(slots=True)
class AttemptResult:
    """One quiz attempt with its rank among every learner's best on that quiz this month."""

    # The first seven in the order of the builder's query columns (report/builder.py).
    score_id: int
    subject: str
    chapter: str
    quiz: str
    quiz_id: int
    scored: int
    total: int
    date: str  # ISO time, UTC
    percent: float
    rank: int
    of: int


@dataclass(slots=True)
class PreviousMonth:
    """The month before, for the comparison."""

    month: Month
    totals: Totals


@dataclass(slots=True)
class Change:
    """This month against the month before (only when both had attempts)."""

    attempts: int
    average_percent: float


@dataclass(slots=True)
class MonthFigures:
    """One month of the learner's trend: how many quizzes, and the average (None without)."""

    month: Month
    attempts: int
    average_percent: float | None


@dataclass(slots=True)
class Recommendation:
    """One piece of advice. It may name a quiz to retry, which the HTML part links to the
    platform's page of that quiz when the platform's address is set: the sentence is kept
    in three parts so the quiz's name can become the link's text."""

    lead: str
    quiz: str = ""
    quiz_id: int | None = None
    tail: str = ""

    @property
    def text(self) -> str:
        return f"{self.lead}{self.quiz}{self.tail}"


@dataclass(slots=True)
class Report:
    """A learner's report for one month."""

    learner: Learner
    month: Month
    totals: Totals
    subjects: list[SubjectResult]
    chapters: list[ChapterResult]
    attempts: list[AttemptResult]
    days_active: int
    previous: PreviousMonth
    change: Change | None
    first_month: bool
    insights: list[str]
    recommendations: list[Recommendation]
    # The last six months, oldest first, ending with this one: the trend picture.
    history: list[MonthFigures] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """No attempts this month: the email encourages instead of reporting."""
        return not self.attempts

    @property
    def month_label(self) -> str:
        return self.month.label
