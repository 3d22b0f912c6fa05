"""A Redis server of a test's own (`redis-server` on a free loopback port), to stop and start
again mid-run; the machine's shared Redis is never touched."""

import signal
import subprocess
from pathlib import Path

import redis

from tests.helpers.stack import free_port
from tests.helpers.waiting import eventually


class RedisServer:
    """`redis-server` in the test's directory, with or without an append-only file."""

    def __init__(self, directory: Path, *, appendonly: bool):
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.appendonly = appendonly
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        """The server's Redis URL."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        """Start (again, on the same port and directory); returns once it answers PING."""
        self.starts += 1
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--dir", str(self.dir), "--save", "", "--daemonize", "no"]
        argv += ["--logfile", str(self.dir / f"redis-{self.starts}.log")]
        if self.appendonly:
            argv += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            argv += ["--appendonly", "no"]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        eventually(self.ping, timeout=10, message="redis-server did not start")
        return self

    def ping(self) -> bool:
        """True when the server answers."""
        try:
            client = redis.Redis(port=self.port, socket_timeout=0.5)
            try:
                return bool(client.ping())
            finally:
                client.close()
        except redis.RedisError:
            return False

    def shutdown(self) -> None:
        """SHUTDOWN (the AOF is flushed) or SHUTDOWN NOSAVE (everything in memory is gone)."""
        client = redis.Redis(port=self.port)
        try:
            client.shutdown(nosave=not self.appendonly, save=False)
        except redis.ConnectionError:
            pass  # the server closes the connection as it goes
        finally:
            client.close()
        assert self.proc is not None
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        """Kill the server if it still runs."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
