"""Real processes for tests: huey_consumer processes and the web app on a free loopback port.

One Stack serves the integration, fault and browser tests alike (and bench/ uses free_port and
start_consumer): consumers are named and restartable with other settings, every process logs
to a file in the test's directory, and logs() shows them when a test fails.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

from tests.helpers import backends
from tests.helpers.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    """A loopback port nothing listens on (yet)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_env(tmp_path: Path, smtp_port: int, **extra) -> dict:
    """The environment of a worker or web process of one test."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "FAULT_"))}
    env.update(
        SECRET_KEY="test-secret",
        **backends.queue(tmp_path),
        INSTANCE_PATH=str(tmp_path),
        OUTBOX_DIR=str(tmp_path / "outbox"),
        SMTP_SERVER="127.0.0.1",
        SMTP_PORT=str(smtp_port),
        SMTP_SECURITY="none",
        SMTP_TIMEOUT="5",
        RETRY_BASE_SECONDS="0.2",
        PYTHONUNBUFFERED="1",
    )
    env.update({k: str(v) for k, v in extra.items()})
    if "DATABASE_URL" not in extra:  # made only when needed: on PostgreSQL, a database
        env["DATABASE_URL"] = backends.database(tmp_path)
    return env


class Process:
    """A child process whose output goes to a log file the test can show on failure."""

    def __init__(self, name: str, argv: list[str], env: dict, log_dir: Path):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115  (closed in stop())
        self.proc = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def log(self) -> str:
        """Everything the process printed so far."""
        return self.log_path.read_text(errors="replace")

    def running(self) -> bool:
        """True until the process exits."""
        return self.proc.poll() is None

    def stop(self, sig: int = signal.SIGINT, timeout: float = 15) -> int:
        """Signal the process (killed if it outstays timeout) and close its log; its code."""
        if self.running():
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


def start_consumer(env: dict, log_dir: Path, name: str = "consumer", *extra: str) -> Process:
    """A real `huey_consumer tasks.huey` with the test's environment; extra options win."""
    argv = [str(BIN / "huey_consumer"), "tasks.huey", "-w", "2", "-k", "thread"]
    argv += ["-d", "0.05", "-m", "0.2", *extra]
    return Process(name, argv, env, log_dir)


def start_web(env: dict, log_dir: Path, port: int) -> Process:
    """The web app under Werkzeug's server on a loopback port; waits until it answers."""
    argv = [sys.executable, "-m", "flask", "--app", "wsgi", "run", "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--no-reload", "--no-debugger"]
    proc = Process("web", argv, env, log_dir)

    def answers() -> bool:
        if not proc.running():
            raise AssertionError(f"web app exited:\n{proc.log()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            return False

    try:
        eventually(answers, timeout=20, message=lambda: f"web app did not start:\n{proc.log()}")
    except BaseException:
        proc.stop()  # nobody else holds it to stop it after the test
        raise
    return proc


def api(base: str, method: str, path: str, token: str | None = None, body=None):
    """Call the JSON API over HTTP; returns (status, parsed JSON, headers)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null"), resp.headers
    except urllib.error.HTTPError as err:
        payload = err.read()
        return err.code, json.loads(payload) if payload else None, err.headers


class Stack:
    """The web app and named consumers of one test, each restartable with other settings."""

    def __init__(self, log_dir: Path, env: dict):
        self.log_dir, self.env = log_dir, env
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.consumers: dict[str, Process] = {}
        self.web: Process | None = None
        self.history: list[Process] = []
        self._generation: Counter = Counter()

    def url(self, path: str) -> str:
        """The web app's URL of a path."""
        return self.base + path

    def start_consumer(
        self, name: str = "consumer0", *, periodic: bool = True, workers: int = 2, **env
    ) -> Process:
        """Start (or restart) consumer `name`; only periodic ones run the reaper's schedule."""
        old = self.consumers.get(name)
        if old is not None and old.running():
            raise AssertionError(f"{name} is still running")
        self._generation[name] += 1
        label = name if self._generation[name] == 1 else f"{name}-{self._generation[name]}"
        extra = ("-w", str(workers), *(() if periodic else ("-n",)))
        proc = start_consumer(self._env(env), self.log_dir, label, *extra)
        self.consumers[name] = proc
        self.history.append(proc)
        return proc

    def start_consumers(self, count: int) -> None:
        """consumer0 (which runs the periodic reaper) and count - 1 more taking -n."""
        for i in range(count):
            self.start_consumer(f"consumer{i}", periodic=i == 0)

    def start_web(self, **env) -> Process:
        """The web app on the stack's port; returns once it answers."""
        self.web = start_web(self._env(env), self.log_dir, self.port)
        self.history.append(self.web)
        return self.web

    def _env(self, changes: dict) -> dict:
        """The stack's environment with these changes, as strings."""
        return {**self.env, **{k: str(v) for k, v in changes.items()}}

    def wait_ready(self, timeout: float = 30) -> None:
        """Wait until every running consumer has started its workers."""
        for name, proc in self.consumers.items():
            eventually(
                lambda p=proc: "Huey consumer started" in p.log(),
                timeout=timeout,
                message=lambda name=name: f"{name} did not start\n{self.logs()}",
            )

    def wait_killed(self, name: str, timeout: float = 60) -> int:
        """Wait for a consumer that SIGKILLs itself at its fault point; its return code."""
        proc = self.consumers[name].proc
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{name} never reached its fault point\n{self.logs()}") from None
        self.consumers[name].stop()  # closes the log
        return proc.returncode

    def periodic_reaps(self) -> int:
        """How many times the periodic reaper has fired so far (in the consumers' logs)."""
        return sum(p.log().count("Executing tasks.reap:") for p in self.history)

    def api(self, method: str, path: str, token: str | None = None, body=None):
        """Call the stack's JSON API; returns (status, parsed JSON, headers)."""
        return api(self.base, method, path, token, body)

    def stop(self) -> None:
        """Stop every process the stack started."""
        for proc in self.history:
            proc.stop()

    def logs(self, tail: int = 3000) -> str:
        """The end of every process's log, for a failure message."""
        return "\n".join(f"--- {p.name} ---\n{p.log()[-tail:]}" for p in self.history)
