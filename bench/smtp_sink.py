"""The benchmark's SMTP server, in a process of its own: it counts every message by recipient.

    python -m bench.smtp_sink --port 2525 --counts counts.json [--latency-ms 10]

A small asyncio server that speaks the part of SMTP a relay needs (EHLO/HELO, MAIL, RCPT,
DATA, RSET, NOOP, QUIT) and answers 250 to every message, at a fraction of the CPU a full
server spends, so the bench measures the product rather than its SMTP server. It advertises
PIPELINING (RFC 2920) unless --no-pipelining.

--latency-ms models a relay across a network: each reply leaves that long after the bytes
it answers arrived, so commands a client pipelines are answered together, as over a real
link, while one command at a time costs a round trip each.

SIGUSR1 writes the counts so far to --counts; SIGUSR2 forgets them (a new run); SIGTERM or
SIGINT stops the server.
"""

import argparse
import asyncio
import json
import os
import re
import signal
from collections import Counter
from collections import deque
from pathlib import Path

_ADDRESS = re.compile(rb"<([^>]*)>")


class Sink:
    """What every connection shares: the counts, and how the server answers."""

    def __init__(self, latency: float, pipelining: bool) -> None:
        self.latency = latency
        self.ehlo = b"250-sink\r\n" + (b"250-PIPELINING\r\n" if pipelining else b"")
        self.ehlo += b"250-8BITMIME\r\n250 SMTPUTF8\r\n"
        self.received: Counter[str] = Counter()

    def write(self, path: Path) -> None:
        temp = path.with_suffix(".tmp")
        temp.write_text(json.dumps(dict(self.received)))
        os.replace(temp, path)


class Connection(asyncio.Protocol):
    """One client: commands line by line, then the message data up to CRLF.CRLF."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.buffer = b""
        self.in_data = False
        self.recipients: list[str] = []
        self.due: deque[tuple[float, bytes]] = deque()
        self.loop = asyncio.get_running_loop()

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.arrived = self.loop.time()
        self.reply(b"220 sink ESMTP\r\n")

    def reply(self, line: bytes) -> None:
        if not self.sink.latency:
            self.transport.write(line)
            return
        # The loop's timers do not keep the order of equal due times: one timer per
        # connection writes what is due, in the order it was answered.
        self.due.append((self.arrived + self.sink.latency, line))
        if len(self.due) == 1:
            self.loop.call_at(self.due[0][0], self._flush)

    def _flush(self) -> None:
        now = self.loop.time()
        while self.due and self.due[0][0] <= now:
            line = self.due.popleft()[1]
            if not self.transport.is_closing():
                self.transport.write(line)
        if self.due:
            self.loop.call_at(self.due[0][0], self._flush)

    def data_received(self, data: bytes) -> None:
        self.arrived = self.loop.time()
        self.buffer += data
        while self.buffer:
            if self.in_data:
                end = self.buffer.find(b"\r\n.\r\n")
                if end < 0:
                    self.buffer = self.buffer[-4:]  # the terminator may straddle packets
                    return
                self.buffer = self.buffer[end + 5 :]
                self.in_data = False
                self.sink.received.update(self.recipients)
                self.recipients = []
                self.reply(b"250 OK queued\r\n")
                continue
            line, sep, rest = self.buffer.partition(b"\r\n")
            if not sep:
                return
            self.buffer = rest
            self.command(line)

    def command(self, line: bytes) -> None:
        verb = line[:4].upper()
        if verb in (b"EHLO", b"HELO"):
            self.reply(self.sink.ehlo if verb == b"EHLO" else b"250 sink\r\n")
        elif verb == b"MAIL":
            self.recipients = []
            self.reply(b"250 OK\r\n")
        elif verb == b"RCPT":
            found = _ADDRESS.search(line)
            self.recipients.append(found.group(1).decode().lower() if found else "")
            self.reply(b"250 OK\r\n")
        elif verb == b"DATA":
            self.in_data = True
            # A message that ends at once (".") must still be found: the CRLF that ended
            # the DATA line starts the terminator.
            self.buffer = b"\r\n" + self.buffer
            self.reply(b"354 End data with <CR><LF>.<CR><LF>\r\n")
        elif verb == b"RSET":
            self.recipients = []
            self.reply(b"250 OK\r\n")
        elif verb == b"QUIT":
            self.reply(b"221 Bye\r\n")
            self.loop.call_at(self.arrived + self.sink.latency + 0.001, self.transport.close)
        else:
            self.reply(b"250 OK\r\n")


async def serve(args) -> None:
    sink = Sink(args.latency_ms / 1000, pipelining=not args.no_pipelining)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Connection(sink), "127.0.0.1", args.port)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGUSR1, sink.write, args.counts)
    loop.add_signal_handler(signal.SIGUSR2, sink.received.clear)
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    print(f"sink listening on 127.0.0.1:{args.port}", flush=True)
    await stop.wait()
    server.close()
    sink.write(args.counts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--counts", type=Path, required=True)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--no-pipelining", action="store_true")
    asyncio.run(serve(parser.parse_args()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
