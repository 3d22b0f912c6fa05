"""The capture server of `make run` as its own process: it runs in the foreground, captures
what it receives and stops cleanly on SIGTERM."""

import os
import signal
import subprocess
import sys

from tests.helpers.smtp import send_with_smtplib
from tests.helpers.stack import ROOT
from tests.helpers.stack import free_port
from tests.helpers.waiting import eventually
from webapp.infra.capture import list_outbox


def test_module_runs_in_the_foreground_and_stops_on_sigterm(tmp_path):
    outbox = tmp_path / "outbox"
    port = free_port()
    env = {**os.environ, "OUTBOX_DIR": str(outbox), "SMTP_PORT": str(port)}
    env.pop("SMTP_SERVER", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "webapp.infra.capture"],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )

    def sent() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"the capture server exited with {proc.returncode}")
        try:
            send_with_smtplib(port, "ada@example.test", "From the foreground")
            return True
        except OSError:
            return False  # not listening yet

    try:
        eventually(sent, timeout=10, interval=0.05, message="the capture server never answered")
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
    assert "captured " in err and "From the foreground" in err
    assert [m.subject for m in list_outbox(outbox)] == ["From the foreground"]
