"""Asking before a mass action: starting a run, cancelling one, sending its failures again.

The question says what will happen, with the real numbers. Its button posts the action once
more with `confirmed`, an HMAC of the facts the question showed. The action works the facts
out again and goes ahead only when the token matches them: a post without it (an old form,
a bookmark, a double-submitted page) or with a stale one (the plan changed meanwhile) gets
the question, never the action. The JSON API does not ask: scripts do not confirm.
"""

import hashlib
import hmac
import json
from dataclasses import dataclass
from urllib.parse import urlencode

from flask import current_app
from flask import make_response
from flask import render_template
from flask import url_for

from webapp.core import actions
from webapp.core import launch
from webapp.core import learners
from webapp.core import letters
from webapp.core import run_listing
from webapp.core.lifecycle.runs import ledger_counts
from webapp.core.models import ReportRun
from webapp.core.models import User
from webapp.core.months import Month
from webapp.core.months import refuse_unless_over
from webapp.core.states import RUN_ACTIVE
from webapp.core.states import DeliveryState
from webapp.core.states import RunScope
from webapp.core.states import RunState
from webapp.core.words import plural
from webapp.web.filters import localtime
from webapp.web.forms import StartRunForm
from webapp.web.htmx import is_htmx
from webapp.web.services import db_session
from webapp.web.services import settings

# A question lists this many of the learners concerned, then counts the rest.
LIST_LIMIT = 10
# A "Go back" link carries the start form's options in its query; gunicorn refuses request
# lines over 4,094 bytes, so a long intro stays out of it (the question shows it to copy).
BACK_LINK_MAX = 3500
STALE = (
    "Something changed since you were asked, so nothing was done. "
    "This is what it would do now: confirm again if it is still what you want."
)


@dataclass(frozen=True)
class Question:
    """A confirmation: what is asked, what will happen, and the button that does it."""

    kind: str  # start, cancel, retry-failed: the panel's class, for styles and tests
    title: str  # "Send 200 reports for October 2026?"
    facts: tuple  # what the answer is bound to: the same facts, or the question again
    action: str  # where the answer is posted
    button: str
    back: str
    lines: tuple[str, ...] = ()  # what will happen, in sentences
    details: tuple[tuple[str, str, str], ...] = ()  # term, value, class of the value
    listed_label: str = ""
    listed: tuple[str, ...] = ()  # the first few learners (or reasons) concerned
    more: int = 0  # how many beyond `listed`
    fields: tuple[tuple[str, str], ...] = ()  # repeated with the answer as hidden fields
    danger: bool = False
    crumbs: tuple[tuple[str, str], ...] = ()


def token_of(facts: tuple) -> str:
    """The answer to a question about these facts: only this app can make it."""
    text = "confirm\n" + json.dumps(facts, separators=(",", ":"), default=str)
    key = current_app.secret_key
    key = key.encode() if isinstance(key, str) else key
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def answered(question: Question, confirmed: str | None) -> bool:
    """True when `confirmed` answers this very question (its facts as they are now)."""
    if not confirmed:
        return False
    return hmac.compare_digest(confirmed.encode(), token_of(question.facts).encode())


def ask(question: Question, confirmed: str | None, notice: str = ""):
    """None when `confirmed` answers the question; else the question: a page, or for htmx the
    same panel alone. A stale answer is a 409 that says so, and asks again."""
    if answered(question, confirmed):
        return None
    status = 200
    if confirmed:
        status, notice = 409, STALE
    context = {"question": question, "token": token_of(question.facts), "notice": notice}
    template = "confirm/_panel.html" if is_htmx() else "confirm/page.html"
    response = make_response(render_template(template, **context), status)
    response.vary.add("HX-Request")
    return response


# --- Starting a run ---------------------------------------------------------------------------


def _start_fields(form: StartRunForm) -> dict[str, str]:
    fields = {"month": form.month.data, "scope": form.scope.data}
    for name in ("learner", "subject", "intro"):
        if form[name].data:
            fields[name] = form[name].data
    return fields


def _back_to_form(fields: dict[str, str]) -> tuple[str, str]:
    """The overview with the start form filled in as it was, and a word when the intro had
    to be left out of the link."""
    link = url_for("dashboard.overview") + "?" + urlencode(fields)
    if len(link) <= BACK_LINK_MAX:
        return link + "#start-run", ""
    short = {k: v for k, v in fields.items() if k != "intro"}
    note = "The intro is too long to carry back in the link: copy it from here first."
    return url_for("dashboard.overview") + "?" + urlencode(short) + "#start-run", note


def _wording_details(month: Month, wording: letters.RunWording) -> tuple:
    subject = letters.subject_for(month, wording.subject)
    if wording.subject is None:
        subject += " (the usual subject)"
    intro = wording.intro or "None: the report starts at its heading."
    return (("Subject", subject, ""), ("Intro", intro, "letter-intro" if wording.intro else ""))


def _plan_digest(plan: launch.Plan) -> str:
    # Who exactly, not only how many: one learner in and another out is a different plan.
    ids = ",".join(str(uid) for uid, _name, _email in plan.to_send)
    return hashlib.sha256(ids.encode()).hexdigest()


def start_question(form: StartRunForm, month: Month, learner: User | None) -> Question:
    """What a start from the dashboard would do. Raises what the start would raise
    (MonthNotOver, launch.RunConflict, NothingToSend, NoEmailAddress, LearnerSuppressed), so
    nobody is asked in vain."""
    fields = _start_fields(form)
    back, note = _back_to_form(fields)
    common = {
        "kind": "start",
        "action": url_for("dashboard.start"),
        "back": back,
        "fields": tuple((fields | {"start": "start"}).items()),
        "crumbs": ((url_for("dashboard.overview"), "Runs"),),
    }
    refuse_unless_over(month)
    wording = form.wording
    details = _wording_details(month, wording)
    if learner is not None:
        return _start_one(month, learner, wording, details, note, common)
    current = launch.open_run_for(db_session, month)
    if current is not None:
        raise launch.RunConflict(current, f"A run for {month.label} is still going.")
    plan = launch.plan(db_session, month, skip_empty=settings().SKIP_EMPTY_REPORTS)
    n, skipped = len(plan.to_send), len(plan.skipped)
    facts = ("start", str(month), "all", wording.subject, wording.intro, n, _plan_digest(plan))
    reasons = tuple(
        f"{reason[:1].upper()}{reason[1:]} ({plural(count, 'learner')})"
        for reason, count in plan.tally.most_common()
    )
    if not n:
        raise launch.NothingToSend(plan)  # said on the form, as a start would say it
    mailed = f"{plural(n, 'learner')} {'gets' if n == 1 else 'get'} their report for "
    mailed += f"{month.label} by email"
    if skipped:
        mailed += f"; {plural(skipped, 'learner')} {'is' if skipped == 1 else 'are'} skipped"
    lines = [
        mailed + ".",
        "Sending starts as soon as you confirm; the run's page lets you pause or cancel it.",
    ]
    if note:
        lines.append(note)
    return Question(
        title=f"Send {plural(n, 'report')} for {month.label}?",
        facts=facts,
        button=f"Send {plural(n, 'report')}",
        lines=tuple(lines),
        details=details,
        listed_label="Why learners are skipped" if reasons else "",
        listed=reasons,
        **common,
    )


def _sent_before(user: User, month: Month):
    """The learner's delivery of the month when it may have reached them already."""
    for row in learners.months_of(db_session, user):
        if row.month == str(month) and row.delivery is not None:
            return row.delivery if row.delivery.state in launch.MAILED else None
    return None


def _start_one(month, learner, wording, details, note, common) -> Question:
    user = launch.mailable_learner(db_session, learner.id)
    name = user.display_name
    earlier = _sent_before(user, month)
    lines = [f"It goes to {user.email}."]
    if earlier is not None:
        when = localtime(earlier.sent_at) if earlier.sent_at else "an earlier run"
        how = "was sent" if earlier.state == DeliveryState.SENT else "may have been sent"
        lines.append(f"It {how} on {when}: this mails it once more, as a run of its own.")
    if note:
        lines.append(note)
    facts = (
        "start",
        str(month),
        "one",
        user.id,
        user.email,
        wording.subject,
        wording.intro,
        earlier.state if earlier is not None else None,
    )
    again = " again" if earlier is not None else ""
    return Question(
        title=f"Send {name}’s report for {month.label}{again}?",
        facts=facts,
        button="Send it again" if earlier is not None else "Send the report",
        lines=tuple(lines),
        details=details,
        **common,
    )


def dry_run_changed(form: StartRunForm, question: Question) -> str:
    """A word when a dry run's "Send these N" meets a plan of another size."""
    expected = (form.expected.data or "").strip()
    if not expected.isdigit() or question.facts[2] != "all":
        return ""
    now = question.facts[5]
    if int(expected) == now:
        return ""
    return (
        f"The dry run listed {plural(int(expected), 'report')}; the plan has "
        f"{now:,} now, because something changed since. Nothing has been sent."
    )


def before_start(form: StartRunForm, month: Month, learner: User | None):
    """The question before a start from the dashboard, or None once it is answered."""
    question = start_question(form, month, learner)
    return ask(question, form.confirmed.data, dry_run_changed(form, question))


# --- A run's actions ----------------------------------------------------------------------


def _run_common(run: ReportRun, kind: str, endpoint: str) -> dict:
    back = url_for("run_page.show", run_id=run.id)
    return {
        "kind": kind,
        "action": url_for(endpoint, run_id=run.id),
        "back": back,
        "crumbs": ((url_for("dashboard.overview"), "Runs"), (back, f"Run #{run.id}")),
    }


def before_cancel(run: ReportRun, confirmed: str | None):
    """The question before a run is cancelled, or None once answered (or when cancelling
    does not apply: the action itself says so)."""
    if not run.is_open:
        return None
    # As the run page counts them: its learners' reports resent since count as sent here.
    counts = run_listing.state_counts(db_session, run.id)
    waiting, sending = counts[DeliveryState.PENDING], counts[DeliveryState.SENDING]
    sent = counts[DeliveryState.SENT]
    active = run.state in RUN_ACTIVE
    if sent:
        kept = f"{sent:,} already sent {'stays' if sent == 1 else 'stay'} sent."
    else:
        kept = "none has gone out yet."
    lines = [f"{plural(waiting, 'report')} not yet sent will not be sent; {kept}"]
    if sending:
        lines.append(f"{plural(sending, 'report')} being handed to the mail server now finish.")
    if active:
        # Counts move while a run sends: the answer is bound to "a run that is sending", not
        # to numbers that are stale a second later.
        lines.append("Sending goes on while you decide: these are the numbers from when you asked.")
    month = Month.parse(run.month, allow_future=True)
    lines.append(f"To send the rest later, start a new run for {month.label}.")
    facts = ("cancel", run.id, "sending" if active else f"paused:{waiting}")
    return ask(
        Question(
            title=f"Cancel run #{run.id}?",
            facts=facts,
            button=f"Cancel run #{run.id}",
            lines=tuple(lines),
            details=(("Run", f"{month.label}, {_scope_words(run)}", ""),),
            danger=True,
            **_run_common(run, "cancel", "run_page.cancel"),
        ),
        confirmed,
    )


def _scope_words(run: ReportRun) -> str:
    return "all learners" if run.scope == RunScope.ALL else "one learner"


def before_retry(run: ReportRun, confirmed: str | None):
    """The question before a run's failed reports are sent again, or None once answered
    (or when there is nothing to retry: the action itself says so)."""
    if run.state == RunState.CANCELLED:
        return None
    # The run's own failed deliveries, as retry_failed takes them (not those resent since).
    failed = ledger_counts(db_session, run.id)[DeliveryState.FAILED]
    if not failed:
        return None
    rows = actions.failures(db_session, run.id, LIST_LIMIT)
    people = tuple(
        f"{row.full_name or row.username} — {row.last_error or row.reason or 'failed'}"
        for row in rows
    )
    if failed == 1 and rows:
        title = f"Send again to {rows[0].full_name or rows[0].username}, whose report failed?"
    else:
        title = f"Send again to the {failed:,} learners whose report failed?"
    month = Month.parse(run.month, allow_future=True)
    their = "The report" if failed == 1 else "Their reports"
    lines = [
        f"{their} for {month.label} {'goes' if failed == 1 else 'go'} out again, "
        "with the run's subject and intro.",
        "Anyone put on the suppression list since is skipped, with the reason.",
    ]
    if run.state in (RunState.DONE, RunState.FAILED):
        lines.append(f"Run #{run.id} opens again until they are sent.")
    return ask(
        Question(
            title=title,
            facts=("retry-failed", run.id, failed),
            button=f"Send {plural(failed, 'report')} again",
            lines=tuple(lines),
            listed_label=f"Failed ({failed:,})",
            listed=people,
            more=max(0, failed - len(people)),
            **_run_common(run, "retry-failed", "run_page.retry_failed"),
        ),
        confirmed,
    )
