"""Real processes for tests: a huey_consumer and the web app on free loopback ports."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stack_env(tmp_path: Path, smtp_port: int, **extra: str) -> dict:
    """The environment of a worker or web process of one test."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "FAULT_"))}
    env.update(
        SECRET_KEY="test-secret",
        DATABASE_URL=f"sqlite:///{tmp_path / 'test.sqlite3'}",
        INSTANCE_PATH=str(tmp_path),
        OUTBOX_DIR=str(tmp_path / "outbox"),
        SMTP_SERVER="127.0.0.1",
        SMTP_PORT=str(smtp_port),
        SMTP_SECURITY="none",
        SMTP_TIMEOUT="5",
        RETRY_BASE_SECONDS="0.2",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
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
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGINT, timeout: float = 15) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


def start_consumer(env: dict, log_dir: Path, name: str = "consumer", *extra: str) -> Process:
    """A real `huey_consumer tasks.huey` with the test's environment."""
    argv = [
        str(BIN / "huey_consumer"),
        "tasks.huey",
        "-w",
        "2",
        "-k",
        "thread",
        "-d",
        "0.05",
        "-m",
        "0.2",
        *extra,
    ]
    return Process(name, argv, env, log_dir)


def start_web(env: dict, log_dir: Path, port: int) -> Process:
    """The web app under Werkzeug's server on a loopback port; waits until it answers."""
    argv = [
        sys.executable,
        "-m",
        "flask",
        "--app",
        "wsgi",
        "run",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-reload",
        "--no-debugger",
    ]
    proc = Process("web", argv, env, log_dir)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            if proc.proc.poll() is not None:
                raise RuntimeError(f"web app exited:\n{proc.log()}") from None
            time.sleep(0.1)
    raise RuntimeError(f"web app did not start:\n{proc.log()}")


def api(base: str, method: str, path: str, token: str | None = None, body=None):
    """Call the JSON API; returns (status, parsed JSON, headers)."""
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


def wait_until(predicate, timeout: float = 30, interval: float = 0.1, message: str = ""):
    """Poll until predicate() is truthy; returns its value or fails with the message."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(message or f"condition not met within {timeout} s")
