"""`make run`: prepare the embedded database, then run web app, worker and SMTP capture.

Ctrl-C stops all three; if one of them dies, the others are stopped too.
"""

import os
import signal
import subprocess
import sys
import time

from webapp.infra.settings import Settings


def _flask(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], check=True)


def prepare(settings: Settings) -> None:
    """Tables, demo data when the database is empty, and the admin account."""
    _flask("db", "upgrade")
    _flask("seed-demo", "--users", str(settings.DEMO_USERS), "--if-empty")
    _flask("ensure-admin")


def commands(settings: Settings) -> list[tuple[str, list[str]]]:
    """The processes of the development stack."""
    consumer = os.path.join(os.path.dirname(sys.executable), "huey_consumer")
    procs = []
    if settings.SMTP_CAPTURE:
        procs.append(("smtp-capture", [sys.executable, "-m", "webapp.infra.capture"]))
    # -m 0.5: an idle SQLite queue is polled at least twice a second, so a run started from
    # the dashboard is picked up within a second.
    worker = [consumer, "tasks.huey", "-w", "2", "-k", "thread", "-d", "0.1", "-m", "0.5", "-S"]
    procs.append(("worker", worker))
    web = ["--app", "wsgi", "run", "--host", "127.0.0.1", "--port", str(settings.PORT)]
    procs.append(("web", [sys.executable, "-m", "flask", *web]))
    return procs


def main() -> int:
    settings = Settings.from_env().validated()
    prepare(settings)
    children: list[tuple[str, subprocess.Popen]] = []
    for name, argv in commands(settings):
        children.append((name, subprocess.Popen(argv)))
        print(f"[make run] started {name}: pid {children[-1][1].pid}", flush=True)
        if name == "smtp-capture":
            time.sleep(0.5)
    url = f"http://127.0.0.1:{settings.PORT}"
    print(f"[make run] Quiz Reports on {url}  (Ctrl-C stops everything)", flush=True)
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
