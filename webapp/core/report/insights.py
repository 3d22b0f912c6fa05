"""What stood out in a learner's month, and at most three things to do next.

Advice is ranked by what it would gain: a chapter's missed questions as points of the
learner's whole average (every question of the chapter right would lift it by that much),
so the three that matter most come first, each naming the chapter, its score and the quiz
to retry. Praise goes only to what is strong; when everything is weak, the advice becomes a
plan of one chapter a week instead of a list of shortcomings.
"""

from webapp.core.report.data import AttemptResult
from webapp.core.report.data import ChapterResult
from webapp.core.report.data import Recommendation
from webapp.core.report.data import Report
from webapp.core.report.data import SubjectResult
from webapp.core.report.wording import FAIR_PERCENT
from webapp.core.report.wording import STRONG_PERCENT
from webapp.core.report.wording import joined
from webapp.core.report.wording import percent
from webapp.core.report.wording import shown
from webapp.core.words import plural

MAX_RECOMMENDATIONS = 3
# Chapters under this are named as weak; advice may name any chapter short of strong.
WEAK_CHAPTER_PERCENT = FAIR_PERCENT
NAMED_WEAK_CHAPTERS = 3
REGULAR_DAYS = 4
# "Top 10 %" is said only in cohorts where it means something.
TOP_SHARE, TOP_SHARE_MIN_COHORT = 0.10, 10

_REGULAR = Recommendation(
    f"Aim for a short quiz on at least {REGULAR_DAYS} different days next month: small, "
    "regular practice helps more than one long session."
)


def _empty_month(report: Report) -> tuple[list[str], list[Recommendation]]:
    label = report.month_label
    previous = report.previous
    if report.first_month:
        start = Recommendation("Start with one short quiz this week in a chapter you enjoy.")
        return [f"No quizzes yet in {label}: your first one is waiting for you."], [start, _REGULAR]
    if previous.totals.attempts:
        insight = (
            f"You took no quizzes in {label}, after "
            f"{plural(previous.totals.attempts, 'quiz', 'quizzes')} in {previous.month.label}."
        )
    else:
        insight = f"You took no quizzes in {label}; a fresh month is a fresh start."
    return [insight], [
        Recommendation("Pick up where you left off with one quiz this week."),
        _REGULAR,
    ]


def _all_weak(report: Report) -> bool:
    return all(shown(s.totals.average_percent) < FAIR_PERCENT for s in report.subjects)


def _subjects(report: Report) -> list[str]:
    subjects = report.subjects
    if _all_weak(report):
        where = "every subject" if len(subjects) > 1 else subjects[0].name
        return [
            f"Your scores in {where} were under {percent(FAIR_PERCENT)} this month, so your "
            "advice below is a plan: one chapter a week, starting with the one that would "
            "lift your average most."
        ]
    if len(subjects) == 1:
        only = subjects[0]
        average = percent(only.totals.average_percent)
        return [f"All your quizzes were in {only.name}, averaging {average}."]
    ranked = sorted(subjects, key=_by_average)
    best, worst = ranked[0], ranked[-1]
    best_pct, worst_pct = best.totals.average_percent, worst.totals.average_percent
    if shown(worst_pct) >= STRONG_PERCENT:
        return [f"Every subject was strong this month, led by {best.name} at {percent(best_pct)}."]
    room = f"{worst.name}, at {percent(worst_pct)}, has the most room to grow."
    if shown(best_pct) >= STRONG_PERCENT:
        return [f"Your strongest subject was {best.name} at {percent(best_pct)}: well done.", room]
    return [f"Your best subject was {best.name} at {percent(best_pct)}; {room}"]


def _by_average(subject: SubjectResult) -> tuple:
    return (-subject.totals.average_percent, subject.name.casefold())


def _weak_chapters(report: Report) -> list[str]:
    weak = [c for c in report.chapters if shown(c.totals.average_percent) < WEAK_CHAPTER_PERCENT]
    if not weak:
        return []
    weak.sort(key=lambda c: (c.totals.average_percent, c.name.casefold()))
    named = [f"{c.name} ({percent(c.totals.average_percent)})" for c in weak]
    under = f"You scored under {percent(WEAK_CHAPTER_PERCENT)} in {plural(len(weak), 'chapter')}"
    if len(weak) <= NAMED_WEAK_CHAPTERS:
        return [f"{under}: {joined(named)}."]
    return [f"{under}; the lowest were {joined(named[:NAMED_WEAK_CHAPTERS])}."]


def _activity(report: Report) -> list[str]:
    lines = [
        f"You were active on {plural(report.days_active, 'day')} and completed "
        f"{plural(report.totals.attempts, 'quiz', 'quizzes')} in {report.month_label}."
    ]
    if report.change is None and not report.first_month:
        lines.append(f"You had no quizzes in {report.previous.month.label}: welcome back!")
    return lines


def _best_rank(report: Report) -> list[str]:
    # A rank among a single learner says nothing, so only cohorts of two or more count; and
    # a good rank is praised only with a strong score (#1 of 2 at 50 % is no feat).
    ranked = [a for a in report.attempts if a.of >= 2]
    if not ranked:
        return []
    best = min(ranked, key=lambda a: (a.rank, -a.of, -a.percent, a.date))
    if shown(best.percent) >= STRONG_PERCENT:
        if best.rank == 1:
            return [f"You had the top score of {best.of} learners on {best.quiz}: excellent."]
        if best.of >= TOP_SHARE_MIN_COHORT and best.rank <= best.of * TOP_SHARE:
            return [f"You were in the top 10% on {best.quiz}, ranked #{best.rank} of {best.of}."]
    return [f"You ranked #{best.rank} of {best.of} on {best.quiz}."]


def _retry_in(report: Report, chapter: ChapterResult) -> AttemptResult:
    # The chapter's weakest attempt, the latest of equals: the quiz most worth retrying.
    attempts = [
        a for a in report.attempts if a.chapter == chapter.name and a.subject == chapter.subject
    ]
    return max(attempts, key=lambda a: (-a.percent, a.date))


def _gain(report: Report, chapter: ChapterResult) -> float:
    missed = chapter.totals.questions - chapter.totals.correct
    return missed * 100.0 / report.totals.questions if report.totals.questions else 0.0


def _chapter_advice(report: Report) -> list[Recommendation]:
    candidates = [c for c in report.chapters if shown(c.totals.average_percent) < STRONG_PERCENT]
    candidates.sort(key=lambda c: (-_gain(report, c), c.totals.average_percent, c.name.casefold()))
    plan = _all_weak(report)
    advice = []
    for week, chapter in enumerate(candidates[:MAX_RECOMMENDATIONS], start=1):
        retry = _retry_in(report, chapter)
        lead = (
            f"Revise {chapter.name} ({chapter.subject}), where you averaged "
            f"{percent(chapter.totals.average_percent)}, then retry "
        )
        advice.append(
            Recommendation(
                lead=f"Week {week}: {lead}" if plan else lead,
                quiz=retry.quiz,
                quiz_id=retry.quiz_id,
                tail=f" (you scored {retry.scored}/{retry.total}).",
            )
        )
    return advice


def insights_for(report: Report) -> tuple[list[str], list[Recommendation]]:
    """The (insights, recommendations) of one learner's report data."""
    if report.empty:
        return _empty_month(report)
    insights = [
        *_subjects(report),
        *_weak_chapters(report),
        *_activity(report),
        *_best_rank(report),
    ]
    recommendations = _chapter_advice(report)
    if len(recommendations) < MAX_RECOMMENDATIONS and report.days_active < REGULAR_DAYS:
        recommendations.append(_REGULAR)
    if not recommendations:
        recommendations.append(_stretch(report))
    return insights, recommendations


def _stretch(report: Report) -> Recommendation:
    # Every chapter is strong: the one thing left to gain is the month's lowest score.
    lowest = max(report.attempts, key=lambda a: (-a.percent, a.date))
    if lowest.scored >= lowest.total:
        return Recommendation(
            "Keep the momentum: stretch yourself with a chapter you have not tried yet."
        )
    return Recommendation(
        lead="Keep the momentum: retry ",
        quiz=lowest.quiz,
        quiz_id=lowest.quiz_id,
        tail=f", your lowest score this month ({lowest.scored}/{lowest.total}), or try a "
        "chapter you have not taken yet.",
    )
