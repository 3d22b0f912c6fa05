"""The fault suite's invariants, checked after every scenario, and the figures it reports.

After a scenario: each learner mailed exactly once (or marked `unknown` with at most one
message), nothing left in flight, the run's counts equal to the ledger, and the API's summary
equal to what the SMTP server received.
"""

import json
import os
import time
from collections import Counter
from dataclasses import asdict
from dataclasses import dataclass
from pathlib import Path

from tests.helpers.factories import SeededDatabase
from tests.helpers.ledger import LedgerView
from tests.helpers.smtp import SmtpTestServer
from tests.helpers.smtp import received_by_address
from tests.helpers.stack import Stack


@dataclass
class Figures:
    """One row of the suite's table."""

    scenario: str
    learners: int
    received: int
    duplicates: int
    lost: int
    failed: int = 0
    unknown: int = 0
    unknown_received: int = 0
    resent: int = 0
    retried: int = 0
    seconds: float = 0.0


FIGURES: list[Figures] = []


def record(figures: Figures) -> Figures:
    """Keep the row for the suite's table (printed, and written to $FAULTS_TABLE if set)."""
    FIGURES.append(figures)
    print(f"\nFAULTS {json.dumps(asdict(figures))}")
    target = os.environ.get("FAULTS_TABLE")
    if target:
        Path(target).write_text(render_table(FIGURES))
    return figures


def render_table(rows: list[Figures]) -> str:
    """The suite's table in Markdown."""
    head = "| scenario | learners | messages received | duplicates | lost | failed | unknown |"
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        unknown = f"{r.unknown} ({r.unknown_received} received)" if r.unknown else "0"
        lines.append(
            f"| {r.scenario} | {r.learners} | {r.received} | {r.duplicates} | {r.lost} "
            f"| {r.failed} | {unknown} |"
        )
    return "\n".join(lines) + "\n"


def check_invariants(
    scenario: str,
    stack: Stack,
    world: SeededDatabase,
    smtp_server: SmtpTestServer,
    ledger: LedgerView,
    task_id: str,
    *,
    failed: dict[str, int] | None = None,
    unknown: int | None = None,
    resent: Counter | None = None,
    started: float | None = None,
) -> Figures:
    """The suite's invariants after a scenario; returns (and records) its figures.

    failed: addresses expected to fail for good, with the SMTP code the ledger must keep.
    unknown: how many deliveries must be `unknown` (None: any number, each with <= 1 message).
    resent: addresses an admin's Resend mailed again on purpose, and how many times.
    """
    failed = {a.lower(): c for a, c in (failed or {}).items()}
    resent = resent or Counter()
    code, data, _ = stack.api("GET", f"/scheduled/task-status/{task_id}", world.token)
    assert code == 200, (code, data)
    assert data["state"] == "SUCCESS", (data, stack.logs())
    run = ledger.run(task_id)
    assert run.state == "done", run.state
    rows = ledger.deliveries(world.month)
    counts, message_ids = received_by_address(smtp_server)

    # Nobody outside the world was mailed; every learner has a ledger row, none in flight.
    assert set(counts) <= set(world.emails), set(counts) - set(world.emails)
    assert set(rows) == set(world.emails), "a learner has no delivery row"
    in_flight = {a: d.state for a, d in rows.items() if d.state in ("pending", "sending")}
    assert not in_flight, f"deliveries left in flight: {in_flight}"

    duplicates = lost = retried = unknown_rows = unknown_received = 0
    for address, d in rows.items():
        got = counts[address] - resent[address]
        retried += d.attempts > 1
        if address in message_ids:
            # One Message-ID per delivery, whatever happened, so receivers can drop a duplicate;
            # only a Resend of a sent report takes a new one (it would be dropped otherwise).
            ids = message_ids[address]
            assert d.message_id in ids and len(ids) <= 1 + resent[address], (address, ids)
        if address in failed:
            assert d.state == "failed", (address, d.state, d.last_error)
            assert d.smtp_code == failed[address], (address, d.smtp_code, d.last_error)
            assert str(failed[address]) in (d.last_error or ""), d.last_error
            assert got == 0, f"{address} failed for good yet received {got}"
        elif d.state == "sent":
            duplicates += max(got - 1, 0)
            lost += got == 0
        elif d.state == "unknown":
            unknown_rows += 1
            unknown_received += got
            duplicates += max(got - 1, 0)
        else:
            lost += 1
    detail = {a: (d.state, counts[a], d.last_error) for a, d in rows.items()}
    bad = {a: v for a, v in detail.items() if v[0] not in ("sent", "unknown") and a not in failed}
    assert not bad, f"deliveries that ended badly: {bad}\n{stack.logs()}"
    assert duplicates == 0, f"{duplicates} duplicate(s)\n{stack.logs()}"
    assert lost == 0, f"{lost} learner(s) marked sent received nothing\n{stack.logs()}"
    if unknown is not None:
        assert unknown_rows == unknown, (unknown_rows, unknown, stack.logs())

    # The run's frozen counts equal its ledger; the API's summary equals both and the server.
    of_run = ledger.states(run.id)
    frozen = {s: getattr(run, s) for s in ("sent", "failed", "unknown", "skipped", "cancelled")}
    assert frozen == {s: of_run[s] for s in frozen}, (frozen, dict(of_run))
    assert run.total == sum(of_run.values())
    summary = data["result"]["summary"]
    assert summary["successful"] == run.sent
    assert summary["failed"] == run.failed == len(failed)
    assert summary["unknown"] == run.unknown
    # Every message at the server is accounted for: a success of this run, a delivery of
    # unknown outcome, a Resend, or a learner another run (a Resend) mailed.
    sent_in_run = {a for a, d in rows.items() if d.run_id == run.id and d.state == "sent"}
    assert summary["successful"] == sum(counts[a] - resent[a] for a in sent_in_run)
    elsewhere = sum(
        counts[a] - resent[a]
        for a, d in rows.items()
        if d.run_id != run.id and d.state != "unknown"
    )
    assert len(smtp_server.messages) == (
        summary["successful"] + unknown_received + sum(resent.values()) + elsewhere
    ), (len(smtp_server.messages), summary, unknown_received, elsewhere)

    return record(
        Figures(
            scenario=scenario,
            learners=world.learners,
            received=len(smtp_server.messages),
            duplicates=duplicates,
            lost=lost,
            failed=len(failed),
            unknown=unknown_rows,
            unknown_received=unknown_received,
            resent=sum(resent.values()),
            retried=retried,
            seconds=round(time.perf_counter() - started, 1) if started else 0.0,
        )
    )
