"""The deployment files say what they should and name commands that work.

Docker is not needed: the Dockerfile and docker-compose.yml are read, and the commands they
give the web app and the consumers are run, with the environment compose gives them, against
a temporary SQLite database and queue instead of PostgreSQL and Redis.
"""

import dataclasses
import functools
import json
import re
import shlex
import shutil
import signal
import sqlite3
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from tests.helpers import backends
from tests.helpers.factories import seed_database
from tests.helpers.ledger import LedgerView
from tests.helpers.stack import BIN
from tests.helpers.stack import ROOT
from tests.helpers.stack import Process
from tests.helpers.stack import free_port
from tests.helpers.stack import process_env
from tests.helpers.waiting import eventually
from webapp.core.models import Base
from webapp.core.models import WorkerBeat
from webapp.infra.settings import Settings

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict] = COMPOSE["services"]
# Services built from the product's image (the others are PostgreSQL, Redis, the mail catcher).
APP_SERVICES = sorted(name for name, service in SERVICES.items() if "build" in service)
CONSUMERS = sorted(name for name in APP_SERVICES if SERVICES[name]["command"][0] == "huey_consumer")
# Where compose has PostgreSQL, Redis and a relay, the test has SQLite and its SMTP server.
PLACES = {"DATABASE_URL", "REDIS_URL", "SMTP_SERVER", "SMTP_PORT", "SMTP_SECURITY"}
VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?::(?P<op>[-?])(?P<arg>[^}]*))?\}")


def procfile() -> dict[str, list[str]]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return {name: shlex.split(cmd) for name, cmd in (ln.split(": ", 1) for ln in lines if ln)}


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of each instruction, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, args = line.partition(" ")
            instructions.append((keyword.upper(), args.strip()))
    return instructions


def seconds(duration: str) -> float:
    """A compose duration such as 1m30s, in seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(float(n) * units[u] for n, u in parts)


def interpolate(value: str, given: dict[str, str]) -> str:
    """Compose's ${NAME}, ${NAME:-default} and ${NAME:?error}, with `given` as the .env."""

    def one(match: re.Match) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        if given.get(name):
            return given[name]
        if op == "?":
            raise AssertionError(f"compose needs {name}: {arg}")
        return arg if op == "-" else ""

    return VARIABLE.sub(one, str(value))


def compose_env(service: str, base: dict, given: dict[str, str]) -> dict:
    """The test's environment (its backend's database and queue) with the variables compose
    sets for `service`, except where the databases and the relay are."""
    env = dict(base)
    for name, value in SERVICES[service]["environment"].items():
        if name not in PLACES:
            env[name] = interpolate(value, given)
    return env


def argv(service: str) -> list[str]:
    """The service's command, its program taken from this environment."""
    command = SERVICES[service]["command"]
    return [str(BIN / command[0]), *command[1:]]


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:  # URLError, or a read timed out: not listening, or not answering, yet
        return 0


# --- What the files say -----------------------------------------------------------------------


def test_the_image_installs_the_lock_with_hashes_and_runs_the_web_app_as_a_user():
    steps = dockerfile()
    assert steps[0] == ("FROM", "python:3.11-slim")
    installs = [args for kw, args in steps if kw == "RUN" and "pip install" in args]
    assert len(installs) == 1
    assert "--require-hashes" in installs[0] and "-r requirements.lock" in installs[0]
    users = [args for kw, args in steps if kw == "USER"]
    assert users and users[-1] not in ("root", "0")
    cmd = [args for kw, args in steps if kw == "CMD"]
    assert json.loads(cmd[-1]) == procfile()["web"]
    ignored = set((ROOT / ".dockerignore").read_text().split())
    for args in (args for kw, args in steps if kw == "COPY"):
        *sources, _target = args.split()
        for source in sources:
            assert (ROOT / source).exists(), source
            assert source.rstrip("/") not in ignored, f".dockerignore leaves {source} out"


def test_compose_runs_the_procfile_commands():
    assert SERVICES["web"]["command"] == procfile()["web"]
    assert SERVICES["worker-periodic"]["command"] == procfile()["worker"]
    # The other consumers add -n: one of them runs the periodic tasks.
    assert SERVICES["worker"]["command"] == [*procfile()["worker"], "-n"]
    assert SERVICES["worker"]["deploy"]["replicas"] >= 1


def test_consumers_stop_with_sigint_and_a_minute_to_finish():
    assert CONSUMERS == ["worker", "worker-periodic"]
    for name in CONSUMERS:
        assert SERVICES[name]["stop_signal"] == "SIGINT", name
        assert seconds(SERVICES[name]["stop_grace_period"]) >= 60, name


def test_redis_keeps_the_queue_across_a_restart():
    command = SERVICES["redis"]["command"]
    assert command[0] == "redis-server"
    assert "--appendonly yes" in " ".join(command)


def test_the_app_waits_for_the_schema_upgrade():
    migrate = SERVICES["migrate"]
    assert shlex.join(migrate["command"]) == "flask --app wsgi db upgrade"
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ["web", *CONSUMERS]:
        needs = SERVICES[name]["depends_on"]
        assert needs["migrate"]["condition"] == "service_completed_successfully", name
        assert needs["postgres"]["condition"] == needs["redis"]["condition"] == "service_healthy"


def test_the_app_services_set_only_variables_the_product_reads():
    fields = [field.name for field in dataclasses.fields(Settings)]
    read = {"QUIZ_REPORTS_ENV" if name == "ENV" else name for name in fields}
    gunicorn = set(re.findall(r"environ\.get\(\"(\w+)\"", (ROOT / "gunicorn.conf.py").read_text()))
    for name in APP_SERVICES:
        env = SERVICES[name]["environment"]
        assert set(env) - read - gunicorn == set(), name
        assert env["QUIZ_REPORTS_ENV"] == "production"
        assert env["DATABASE_URL"].startswith("postgresql+psycopg://")
        assert env["REDIS_URL"].startswith("redis://redis:")


def test_the_web_healthcheck_asks_healthz_on_the_served_port():
    check = " ".join(SERVICES["web"]["healthcheck"]["test"])
    assert "http://127.0.0.1:8000/healthz" in check
    # gunicorn.conf.py binds 8000 when PORT is unset, as it is in the web service.
    assert "PORT" not in SERVICES["web"]["environment"]
    assert [port.rsplit(":", 1)[1] for port in SERVICES["web"]["ports"]] == ["8000"]


def test_the_env_example_names_every_variable_compose_requires():
    required = set(re.findall(r"\$\{(\w+):\?", (ROOT / "docker-compose.yml").read_text()))
    example = (ROOT / ".env.example").read_text()
    named = set(re.findall(r"^(\w+)=", example, flags=re.MULTILINE))
    assert required and required <= named


# --- The commands run -------------------------------------------------------------------------


@pytest.mark.consumer
def test_the_compose_commands_serve_and_beat(tmp_path, smtp_server):
    world = seed_database(tmp_path, backends.database(tmp_path), 2)
    port = free_port()
    base = process_env(tmp_path, smtp_server.port)
    given = {"SECRET_KEY": "test-secret", "PUBLIC_BASE_URL": "http://127.0.0.1:8000"}
    # gunicorn.conf.py binds $PORT: the test's free port instead of the image's 8000.
    web = Process(
        "web", argv("web"), {**compose_env("web", base, given), "PORT": str(port)}, tmp_path
    )
    consumers = {
        name: Process(name, argv(name), compose_env(name, base, given), tmp_path)
        for name in CONSUMERS
    }
    ledger = LedgerView(tmp_path, world.url)

    def logs() -> str:
        return "\n".join(f"--- {p.name} ---\n{p.log()[-3000:]}" for p in [web, *consumers.values()])

    def beats() -> set[tuple]:
        with ledger.session() as s:
            rows = s.execute(select(WorkerBeat.pid, WorkerBeat.workers, WorkerBeat.periodic))
            return set(rows.all())

    try:
        url = f"http://127.0.0.1:{port}"
        eventually(lambda: get(url + "/healthz") == 200, timeout=20, message=logs)
        # Each consumer beats with the workers and the periodic duty its command gives it.
        expected = {
            (process.proc.pid, int(command[command.index("-w") + 1]), "-n" not in command)
            for process, command in ((consumers[n], SERVICES[n]["command"]) for n in CONSUMERS)
        }
        assert {periodic for _pid, _workers, periodic in expected} == {True, False}
        eventually(lambda: beats() == expected, timeout=20, message=logs)
        assert get(url + "/readyz") == 200

        for name, process in consumers.items():
            stop = getattr(signal, SERVICES[name]["stop_signal"])
            assert process.stop(stop, timeout=15) == 0, logs()
        assert beats() == set()  # a graceful stop takes the consumer off the Workers page
    finally:
        for process in [web, *consumers.values()]:
            process.stop()
        ledger.close()
    assert "Booting worker" in web.log()


def image_files(into: Path) -> Path:
    """What the Dockerfile copies into the image's /app, copied into `into`."""
    into.mkdir()
    for args in (args for kw, args in dockerfile() if kw == "COPY"):
        *sources, _target = args.split()
        for source in sources:
            if (ROOT / source).is_dir():
                shutil.copytree(ROOT / source, into / source)
            elif source != "requirements.lock":
                shutil.copy(ROOT / source, into / source)
    return into


def test_the_migrate_command_brings_an_empty_database_up_from_the_images_files(
    tmp_path, smtp_server
):
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    env = compose_env(
        "migrate",
        process_env(tmp_path, smtp_server.port, DATABASE_URL=url),
        {"SECRET_KEY": "test-secret", "PUBLIC_BASE_URL": "http://127.0.0.1:8000"},
    )
    # Only what the image holds: a file the product needs and the Dockerfile forgot fails.
    app_dir = image_files(tmp_path / "app")
    env.pop("PYTHONPATH", None)
    command = argv("migrate")
    run = functools.partial(
        subprocess.run, command, cwd=app_dir, env=env, capture_output=True, text=True, timeout=60
    )
    done = run()
    assert done.returncode == 0, done.stderr
    # Run again on an up-to-date schema, as every `docker compose up` does.
    again = run()
    assert again.returncode == 0, again.stderr
    with sqlite3.connect(tmp_path / "empty.sqlite3") as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
    assert set(Base.metadata.tables) <= tables
