"""The API's JSON, written field by field from the typed data: its shape changes only here.

tests/web/test_api_contract.py freezes every shape, so a field added to a dataclass inside
the product never appears in, or vanishes from, the public JSON by accident.
"""

from datetime import UTC
from datetime import datetime

from webapp.core.launch import Plan
from webapp.core.models import ReportRun
from webapp.core.progress import LearnerOutcome
from webapp.core.progress import Snapshot
from webapp.core.report.data import AttemptResult
from webapp.core.report.data import ChapterResult
from webapp.core.report.data import Report
from webapp.core.report.data import SubjectResult
from webapp.core.report.data import Totals
from webapp.core.states import DELIVERY_FINISHED
from webapp.core.states import DeliveryState
from webapp.core.states import RunState

# The original design's Celery states, by run state.
SEED_STATES = {
    RunState.QUEUED: "PENDING",
    RunState.RUNNING: "PROGRESS",
    RunState.PAUSED: "PROGRESS",
    RunState.DONE: "SUCCESS",
    RunState.CANCELLED: "FAILURE",
    RunState.FAILED: "FAILURE",
}


def utc_time(value: datetime | str | None) -> str | None:
    """A stored time as ISO 8601 with its zone, '2024-12-31T23:59:58Z'; None stays None.

    The database keeps naive UTC (and the report its attempts' times as such text): without the
    Z a client would read them in its own zone.
    """
    if value is None:
        return None
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return when.isoformat().replace("+00:00", "Z")


def _totals(totals: Totals) -> dict:
    return {
        "attempts": totals.attempts,
        "questions": totals.questions,
        "correct": totals.correct,
        "average_percent": totals.average_percent,
    }


def _subject(subject: SubjectResult) -> dict:
    return {"subject_id": subject.subject_id, "name": subject.name, **_totals(subject.totals)}


def _chapter(chapter: ChapterResult) -> dict:
    return {
        "chapter_id": chapter.chapter_id,
        "name": chapter.name,
        "subject": chapter.subject,
        **_totals(chapter.totals),
    }


def _attempt(attempt: AttemptResult) -> dict:
    return {
        "score_id": attempt.score_id,
        "date": utc_time(attempt.date),
        "subject": attempt.subject,
        "chapter": attempt.chapter,
        "quiz": attempt.quiz,
        "quiz_id": attempt.quiz_id,
        "scored": attempt.scored,
        "total": attempt.total,
        "percent": attempt.percent,
        "rank": attempt.rank,
        "of": attempt.of,
    }


def report_json(report: Report) -> dict:
    """GET /scheduled/report-data: one learner's report, exactly what the email shows."""
    learner, previous, change = report.learner, report.previous, report.change
    return {
        "user": {
            "id": learner.id,
            "username": learner.username,
            "email": learner.email,
            "full_name": learner.full_name,
            "qualification": learner.qualification,
        },
        "month_year": str(report.month),
        "month_label": report.month.label,
        "empty": report.empty,
        "totals": _totals(report.totals),
        "subjects": [_subject(s) for s in report.subjects],
        "attempts": [_attempt(a) for a in report.attempts],
        "chapters": [_chapter(c) for c in report.chapters],
        "days_active": report.days_active,
        "previous": {
            "month_year": str(previous.month),
            "month_label": previous.month.label,
            **_totals(previous.totals),
        },
        "change": (
            None
            if change is None
            else {"attempts": change.attempts, "average_percent": change.average_percent}
        ),
        "first_month": report.first_month,
        "insights": list(report.insights),
        "recommendations": [r.text for r in report.recommendations],
        # The trend picture's months, oldest first, this one last; average null without quizzes.
        "history": [
            {
                "month_year": str(point.month),
                "month_label": point.month.label,
                "attempts": point.attempts,
                "average_percent": point.average_percent,
            }
            for point in report.history
        ],
    }


def started_json(run: ReportRun, message: str, **extra) -> dict:
    """202 to a start: the run's task_id to poll task-status with."""
    return {
        "message": message,
        "task_id": run.task_id,
        **extra,
        "month_year": run.month,
        # Accepted and queued, whatever a fast worker has done with it since.
        "status": SEED_STATES[RunState.QUEUED],
    }


def plan_json(plan: Plan) -> dict:
    """A dry run: who would be mailed, and who skipped and why; warnings in words (the
    month is not over, nobody has an attempt, nothing to send), empty when there are none."""
    return {
        "month_year": str(plan.month),
        "to_send": [{"user_id": u, "name": n, "email": e} for u, n, e in plan.to_send],
        "skipped": [{"user_id": u, "name": n, "reason": r} for u, n, r in plan.skipped],
        "warnings": plan.warnings(),
    }


def nothing_to_send_json(plan: Plan) -> dict:
    """200 to a start that mails nobody: the fields of a start, with total 0 and no task_id,
    since no run was written; status SUCCESS, as every learner's report is settled."""
    return {
        "message": plan.nothing_to_send(),
        "task_id": None,
        "total": 0,
        "month_year": str(plan.month),
        "status": SEED_STATES[RunState.DONE],
    }


def _result_line(outcome: LearnerOutcome) -> dict:
    return {
        "user_id": outcome.user_id,
        "username": outcome.username,
        "email_status": outcome.state,
        "success": outcome.success,
        "error": outcome.error,
    }


def status_words(snap: Snapshot) -> str:
    """The run's state in a sentence, as task-status says it."""
    state, done, total = snap.state, snap.done, snap.total
    counts = snap.counts
    if state == RunState.QUEUED:
        return "Waiting for a worker."
    if state == RunState.RUNNING:
        return f"Sending reports: {done} of {total} done."
    if state == RunState.PAUSED:
        return f"Paused: {snap.pause_reason or 'by an admin'} ({done} of {total} done)."
    if state == RunState.CANCELLED:
        return f"Cancelled after {done - counts[DeliveryState.CANCELLED]} of {total}."
    return (
        f"Completed: {snap.sent} sent, {snap.failed} failed, "
        f"{counts[DeliveryState.SKIPPED]} skipped, {counts[DeliveryState.UNKNOWN]} unknown."
    )


def task_status_json(task_id: str, snap: Snapshot) -> dict:
    """GET /scheduled/task-status/<task_id>: the run in the original design's terms."""
    state = SEED_STATES[snap.state]
    counts = snap.counts
    result = None
    if state in ("SUCCESS", "FAILURE"):
        result = {
            "message": status_words(snap),
            "summary": {
                "total_users": snap.total,
                "successful": snap.sent,
                "failed": snap.failed,
                "skipped": counts[DeliveryState.SKIPPED],
                "unknown": counts[DeliveryState.UNKNOWN],
                "success_rate": snap.success_rate,
            },
            "results": [_result_line(r) for r in snap.results or []],
            "month_year": snap.month_year,
        }
    return {
        "task_id": task_id,
        "state": state,
        "run_state": snap.state,
        "current": snap.done,
        "total": snap.total if snap.total or state != "PENDING" else 1,
        "status": status_words(snap),
        "counts": dict(counts),
        "pause_reason": snap.pause_reason,
        # Added fields: sent, failed and unknown (what a send was tried for), and the rate
        # and time left of those sends alone (skipped and cancelled reports are no throughput).
        "attempted": snap.attempted,
        "rate_sent_per_second": snap.rate_per_second,
        "eta_seconds": snap.eta_seconds,
        "result": result,
    }


def run_summary_json(run: ReportRun, counts: dict[str, int] | None) -> dict:
    """One run in GET /scheduled/report-summary; `counts` from the ledger while it is open."""
    if counts is None:
        counts = {state: getattr(run, state) for state in DELIVERY_FINISHED}
    return {
        "task_id": run.task_id,
        "month_year": run.month,
        "scope": run.scope,
        "user_id": run.user_id,
        "state": SEED_STATES[run.state],
        "run_state": run.state,
        "total": sum(counts.values()) if run.is_open else run.total,
        "sent": counts[DeliveryState.SENT],
        "failed": counts[DeliveryState.FAILED],
        "skipped": counts[DeliveryState.SKIPPED],
        "unknown": counts[DeliveryState.UNKNOWN],
        "created_at": utc_time(run.created_at),
        "finished_at": utc_time(run.finished_at),
    }
