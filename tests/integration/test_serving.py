"""The commands the Procfile names start the product: gunicorn serves the web app, and
behind a trusted proxy the client's address and scheme are the forwarded ones."""

import sys
import urllib.error
import urllib.request
from pathlib import Path

from tests.helpers import backends
from tests.helpers.factories import seed_database
from tests.helpers.stack import ROOT
from tests.helpers.stack import Process
from tests.helpers.stack import free_port
from tests.helpers.stack import process_env
from tests.helpers.waiting import eventually


def procfile() -> dict[str, str]:
    lines = (Path(ROOT) / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


def get(url: str, headers: dict | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:  # URLError, or a read timed out: not listening, or not answering, yet
        return 0, b""


def test_gunicorn_from_the_procfile_serves_the_app(tmp_path, smtp_server):
    world = seed_database(tmp_path, backends.database(tmp_path), 2)
    port = free_port()
    env = process_env(
        tmp_path,
        smtp_server.port,
        PORT=port,
        TRUSTED_PROXIES=1,
        METRICS_TOKEN="",
    )
    command = procfile()["web"].split()
    assert command[0] == "gunicorn"
    web = Process(
        "gunicorn", [str(Path(sys.executable).parent / command[0]), *command[1:]], env, tmp_path
    )
    try:
        base = f"http://127.0.0.1:{port}"
        eventually(lambda: get(base + "/healthz")[0] == 200, timeout=30, message=web.log)
        assert get(base + "/readyz")[0] == 200
        # /metrics is for this machine only: a request forwarded for an outside client is not.
        assert get(base + "/metrics")[0] == 200
        outside = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
        assert get(base + "/metrics", outside)[0] == 403
        token = {"Authorization": f"Bearer {world.token}"}
        status, body = get(base + "/scheduled/report-summary", token)
        assert status == 200, body
    finally:
        web.stop()
    assert "Booting worker" in web.log()
