"""`make run`: prepare the embedded database, then run web app, worker and SMTP capture.

Ctrl-C stops all three; if one of them dies, the others are stopped too.
"""

import os
import signal
import subprocess
import sys
import time

from webapp.infra.settings import Config


def _flask(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], check=True)


def prepare() -> None:
    """Tables, demo data when the database is empty, and the admin account."""
    _flask("init-db")
    users = os.environ.get("DEMO_USERS", "200")
    _flask("seed-demo", "--users", users, "--if-empty")
    _flask("ensure-admin")


def commands(config: Config) -> list[tuple[str, list[str]]]:
    """The processes of the development stack."""
    bin_dir = os.path.dirname(sys.executable)
    port = os.environ.get("PORT", "5000")
    procs = []
    if config.SMTP_CAPTURE:
        procs.append(("smtp-capture", [sys.executable, "-m", "webapp.infra.capture"]))
    procs.append(
        (
            "worker",
            # -m 0.5: an idle SQLite queue is polled at least twice a second, so a run
            # started from the dashboard is picked up within a second.
            [
                os.path.join(bin_dir, "huey_consumer"),
                "tasks.huey",
                "-w",
                "2",
                "-k",
                "thread",
                "-d",
                "0.1",
                "-m",
                "0.5",
                "-S",
            ],
        )
    )
    procs.append(
        (
            "web",
            [
                sys.executable,
                "-m",
                "flask",
                "--app",
                "wsgi",
                "run",
                "--host",
                "127.0.0.1",
                "--port",
                port,
            ],
        )
    )
    return procs


def main() -> int:
    config = Config()
    prepare()
    children: list[tuple[str, subprocess.Popen]] = []
    for name, argv in commands(config):
        children.append((name, subprocess.Popen(argv)))
        print(f"[make run] started {name}: pid {children[-1][1].pid}", flush=True)
        if name == "smtp-capture":
            time.sleep(0.5)
    port = os.environ.get("PORT", "5000")
    print(
        f"[make run] Quiz Reports on http://127.0.0.1:{port}  (Ctrl-C stops everything)", flush=True
    )
    stopping = False

    def stop(*_args):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while not stopping and all(p.poll() is None for _n, p in children):
        time.sleep(0.2)
    for name, proc in children:
        if proc.poll() is None:
            # SIGINT is the graceful stop for huey_consumer: running tasks finish first.
            proc.send_signal(signal.SIGINT)
        elif not stopping:
            print(f"[make run] {name} exited with {proc.returncode}; stopping the rest", flush=True)
    for _name, proc in children:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
