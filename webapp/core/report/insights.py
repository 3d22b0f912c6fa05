"""Rule-based insights and recommendations for one report, each a single concrete sentence."""

from webapp.core.report.data import Report

WEAK_CHAPTER_PERCENT = 60.0
TREND_POINTS = 5.0
REGULAR_DAYS = 4
STRONG_PERCENT = 80.0


def _pct(value: float) -> str:
    # 2 decimals like the report, without trailing zeros: 59.96 stays under 60.
    return f"{value:.2f}".rstrip("0").rstrip(".") + "%"


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _empty_month(report: Report) -> tuple[list[str], list[str]]:
    label = report.month_label
    previous = report.previous
    if report.first_month:
        insights = [f"No quizzes yet in {label}: your first one is waiting for you."]
    elif previous.totals.attempts:
        insights = [
            f"You took no quizzes in {label} after "
            f"{_plural(previous.totals.attempts, 'quiz', 'quizzes')} in {previous.month.label}, "
            "so let's pick that momentum back up."
        ]
    else:
        insights = [f"You took no quizzes in {label}; a fresh month is a fresh start."]
    recommendations = [
        "Start with one short quiz this week in a chapter you enjoy.",
        "Aim for a quiz on 4 different days next month: small, regular practice adds up.",
    ]
    return insights, recommendations


def _subjects(report: Report, insights: list[str], recommendations: list[str]) -> None:
    subjects = report.subjects
    if len(subjects) == 1:
        s = subjects[0]
        insights.append(
            f"All your quizzes were in {s.name}, averaging {_pct(s.totals.average_percent)}."
        )
        return
    ranked = sorted(subjects, key=lambda s: (-s.totals.average_percent, s.name.casefold()))
    strongest, weakest = ranked[0], ranked[-1]
    best, worst = strongest.totals.average_percent, weakest.totals.average_percent
    insights.append(f"Your strongest subject was {strongest.name} at {_pct(best)}.")
    if worst < best:
        insights.append(f"Your weakest subject was {weakest.name} at {_pct(worst)}.")
        recommendations.append(
            f"Give {weakest.name} extra practice next month: it was your lowest-scoring subject."
        )


def _weak_chapters(report: Report, insights: list[str], recommendations: list[str]) -> None:
    weak = [c for c in report.chapters if c.totals.average_percent < WEAK_CHAPTER_PERCENT]
    if not weak:
        return
    weak.sort(key=lambda c: (c.totals.average_percent, c.name.casefold()))
    named = [f"{c.name} ({_pct(c.totals.average_percent)})" for c in weak]
    insights.append(
        f"You scored under {_pct(WEAK_CHAPTER_PERCENT)} in {_plural(len(weak), 'chapter')}: "
        f"{_join(named)}."
    )
    for c in weak:
        recommendations.append(
            f"Revise {c.name} ({c.subject}), where you averaged "
            f"{_pct(c.totals.average_percent)}, then retry one of its quizzes."
        )


def _trend(report: Report, insights: list[str], recommendations: list[str]) -> None:
    previous = report.previous
    change = report.change
    if report.first_month:
        insights.append(
            "This was your first month of quizzes: welcome, and well done for starting!"
        )
        return
    if change is None:
        insights.append(
            f"You had no quizzes in {previous.month.label}, so welcome back this month!"
        )
        return
    points = change.average_percent
    now = _pct(report.totals.average_percent)
    before = _pct(previous.totals.average_percent)
    since = previous.month.label
    if points >= TREND_POINTS:
        insights.append(
            f"Your average improved by {points:.1f} points since {since}, from {before} to {now}."
        )
    elif points <= -TREND_POINTS:
        insights.append(
            f"Your average dropped by {-points:.1f} points since {since}, from {before} to {now}."
        )
        recommendations.append(
            "Go back over the quizzes where your score fell and retry them to win the points back."
        )
    else:
        insights.append(f"Your average held steady at {now}, against {before} in {since}.")


def _activity(report: Report, insights: list[str], recommendations: list[str]) -> None:
    days = report.days_active
    attempts = report.totals.attempts
    insights.append(
        f"You were active on {_plural(days, 'day')} and completed "
        f"{_plural(attempts, 'quiz', 'quizzes')} in {report.month_label}."
    )
    if days < REGULAR_DAYS:
        recommendations.append(
            f"Practise more regularly: a short quiz on at least {REGULAR_DAYS} different days "
            "a month helps more than one long session."
        )


def _best_rank(report: Report, insights: list[str]) -> None:
    # A rank among a single learner says nothing, so only cohorts of two or more count.
    ranked = [a for a in report.attempts if a.of >= 2]
    if not ranked:
        return
    best = min(ranked, key=lambda a: (a.rank, -a.of, -a.percent, a.date))
    insights.append(f"You ranked #{best.rank} of {best.of} on {best.quiz}.")


def insights_for(report: Report) -> tuple[list[str], list[str]]:
    """The (insights, recommendations) sentences for one learner's report data."""
    if report.empty:
        return _empty_month(report)
    insights: list[str] = []
    recommendations: list[str] = []
    _subjects(report, insights, recommendations)
    _weak_chapters(report, insights, recommendations)
    _trend(report, insights, recommendations)
    _activity(report, insights, recommendations)
    _best_rank(report, insights)
    if not recommendations:
        if report.totals.average_percent >= STRONG_PERCENT:
            recommendations.append(
                "Keep the momentum: stretch yourself with a chapter you have not tried yet."
            )
        else:
            recommendations.append(
                "Keep practising steadily and retry your lowest-scoring quiz to lift your average."
            )
    return insights, recommendations
