"""What the processes log: the app's own records in a consumer's output, one JSON object a
line with LOG_FORMAT=json and the ids of the work, and never a secret."""

import json

from tests.helpers import backends
from tests.helpers.factories import seed_database
from tests.helpers.smtp import SmtpTestServer
from tests.helpers.stack import process_env
from tests.helpers.waiting import eventually

SMTP_PASSWORD = "relay-Pa55word-never-logged"
SECRET_KEY = "secret-key-never-logged"


def json_lines(log: str) -> list[dict]:
    """The JSON objects of a log, after checking that every line from the first one on is one
    (huey_consumer prints a few lines of its own before its workers start)."""
    lines = log.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("{"))
    return [json.loads(line) for line in lines[first:] if line.strip()]


def test_a_run_logs_json_lines_with_its_ids_and_no_secret(tmp_path, stacks):
    world = seed_database(tmp_path, backends.database(tmp_path), 6)
    with SmtpTestServer(credentials=("reports", SMTP_PASSWORD)) as relay:
        env = process_env(
            tmp_path,
            relay.port,
            SMTP_USERNAME="reports",
            SMTP_PASSWORD=SMTP_PASSWORD,
            SECRET_KEY=SECRET_KEY,
            LOG_FORMAT="json",
            LOG_LEVEL="DEBUG",
        )
        stack = stacks(env)
        stack.start_consumer()
        stack.start_web()
        status, body, _ = stack.api(
            "POST",
            "/scheduled/generate-all-monthly-reports",
            world.token,
            {"month_year": world.month},
        )
        assert status == 202, body
        eventually(lambda: len(relay.messages) == world.learners, timeout=30)
        eventually(lambda: "chunk of 6: 6 sent" in stack.logs(), timeout=15)
        stack.stop()

    worker = json_lines(stack.consumers["consumer0"].log())
    sent = [e for e in worker if e["message"].startswith("sent (250")]
    assert len(sent) == world.learners
    assert {e["user_id"] for e in sent} == set(world.emails.values())
    assert all(e["run_id"] == 1 and e["delivery_id"] and e["level"] == "DEBUG" for e in sent)
    summary = next(e for e in worker if "chunk of 6" in e["message"])
    assert summary["logger"] == "quiz_reports.tasks" and summary["run_id"] == 1
    # Huey's own lines come out the same way once the workers run.
    assert any(e["logger"].startswith("huey") and "Executing" in e["message"] for e in worker)

    everything = stack.logs(tail=10**7)
    assert "Executing tasks.send_report_chunk" in everything  # the logs are all there
    for secret in (SMTP_PASSWORD, SECRET_KEY, world.token):
        assert secret not in everything
