"""An open-loop load generator: requests are sent at a fixed arrival rate whatever the
server does, and latency is measured from each request's scheduled time (so a slow server
cannot hide its queueing: no coordinated omission), or from its sending if that came
first. Keep-alive HTTP/1.1 over asyncio.

It shares the cores with the platform it measures, so it is built to cost little per
request: asyncio protocols instead of streams (no coroutine, future and reader per answer),
a head parsed only for what the run counts, every request due sent at each wake-up instead
of one sleep per request, and uvloop's event loop (requirements-dev.txt). Against a
trivial server on loopback at 950 requests/s: 74 µs of CPU per request against the
stream-based version's 110, and no wake-up late by a millisecond of timer rounding, which
had added about half a millisecond to every latency it measured (docs/performance.md).
Each connection carries one request at a time; a request due while every connection is
busy waits for the first one free, its clock already running."""

import asyncio
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import cast

import uvloop


@dataclass
class OpenLoopResult:
    latencies_us: list[int] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)
    replayed: int = 0
    booking_nothing: int = 0  # rollbacks answered 200 that found nothing to undo (a tombstone, or undone before)
    socket_errors: int = 0
    late_starts: int = 0  # requests the generator itself could not send on time (> 1 ms late)
    duration_s: float = 0.0


class _Answer:
    """What the run needs of one answer's head."""

    __slots__ = ("close", "length", "replayed", "status")

    def __init__(self, head: bytes) -> None:
        # "HTTP/1.1 200 OK": the status is the second word.
        self.status = int(head.split(b" ", 2)[1])
        fields = head.lower()
        start = fields.find(b"\r\ncontent-length:")
        if start < 0:
            # Chunked framing is valid HTTP, but the wallet answers always carry a length.
            raise RuntimeError(f"answer without Content-Length: {head[:200]!r}")
        end = fields.find(b"\r\n", start + 2)
        self.length = int(fields[start + 17 : end if end >= 0 else None])
        self.close = b"\r\nconnection: close" in fields
        self.replayed = b"\r\nidempotent-replayed: true" in fields


class _Connection(asyncio.Protocol):
    def __init__(self, generator: "_Generator") -> None:
        self.generator = generator
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.answer: _Answer | None = None
        self.scheduled: float | None = None  # the request in flight: when it was due

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not asyncio's class
        self.generator.idle(self)

    def send(self, scheduled: float, raw: bytes) -> None:
        assert self.transport is not None
        self.scheduled = scheduled
        self.transport.write(raw)

    def data_received(self, data: bytes) -> None:
        try:
            self._read(data)
        except Exception as error:  # the event loop would only log it, and the run would hang
            self.generator.fail(error)

    def _read(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if self.answer is None:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            self.answer = _Answer(bytes(buffer[:end]))
            del buffer[: end + 4]
        answer = self.answer
        if len(buffer) < answer.length:
            return
        body = bytes(buffer[: answer.length])
        del buffer[: answer.length]
        self.answer = None
        scheduled, self.scheduled = self.scheduled, None
        assert scheduled is not None
        self.generator.answered(scheduled, answer, body)
        if answer.close:
            self.scheduled = -1.0  # the server's close ends this connection, not a request
            assert self.transport is not None
            self.transport.close()
        else:
            self.generator.idle(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.generator.lost(self)


class _Generator:
    def __init__(self, host: str, port: int, result: OpenLoopResult) -> None:
        self.loop = asyncio.get_running_loop()
        self.host, self.port, self.result = host, port, result
        self.free: deque[_Connection] = deque()
        self.waiting: deque[tuple[float, bytes]] = deque()
        self.in_flight = 0
        self.stopping = False
        self.all_answered: asyncio.Future[None] = self.loop.create_future()

    def open(self) -> None:
        self.in_flight += 1  # a connection being opened counts until it is idle
        task = self.loop.create_task(self.loop.create_connection(lambda: _Connection(self), self.host, self.port))
        task.add_done_callback(self._opened)

    def _opened(self, task: asyncio.Task) -> None:
        error = task.exception()
        if error is not None:
            # No server to measure: the run fails, as a closed-loop generator's would.
            self.fail(error)

    def fail(self, error: BaseException) -> None:
        if not self.all_answered.done():
            self.all_answered.set_exception(error)

    def submit(self, scheduled: float, raw: bytes) -> None:
        if self.free:
            self.in_flight += 1
            self.free.popleft().send(scheduled, raw)
        else:
            self.waiting.append((scheduled, raw))

    def idle(self, connection: _Connection) -> None:
        if self.waiting:
            connection.send(*self.waiting.popleft())
            return
        self.in_flight -= 1
        self.free.append(connection)
        self._maybe_done()

    def answered(self, scheduled: float, answer: _Answer, body: bytes) -> None:
        result = self.result
        result.latencies_us.append(int((time.perf_counter() - scheduled) * 1e6))
        result.statuses[answer.status] += 1
        if answer.replayed:
            result.replayed += 1
        if answer.status == 200:
            # As bench/wrk_wallet.lua counts them, for the run's money check.
            if b'"status":"tombstone"' in body or b'"status":"already_rolled_back"' in body:
                result.booking_nothing += 1
        else:
            marker = body.find(b'"code":"')
            code = body[marker + 8 : body.find(b'"', marker + 8)].decode() if marker >= 0 else f"HTTP_{answer.status}"
            result.codes[code] += 1

    def lost(self, connection: _Connection) -> None:
        if self.all_answered.done():
            return  # the run is over: its connections are being closed
        if connection in self.free:
            self.free.remove(connection)  # idle, so not counted in flight
        else:
            self.in_flight -= 1  # its request, or the close after its last answer
            if connection.scheduled is not None and connection.scheduled >= 0:
                # A request in flight lost with its connection: counted, not answered.
                self.result.socket_errors += 1
        self.open()

    def _maybe_done(self) -> None:
        if self.stopping and not self.waiting and self.in_flight == 0 and not self.all_answered.done():
            self.all_answered.set_result(None)


EARLY = 0.0005


async def _run(host: str, port: int, requests: list[bytes], rate: float, connections: int) -> OpenLoopResult:
    result = OpenLoopResult()
    generator = _Generator(host, port, result)
    for _ in range(connections):
        generator.open()
    while generator.in_flight:  # every connection open and idle before the clock starts
        if generator.all_answered.done():
            generator.all_answered.result()  # raises what opening a connection raised
        await asyncio.sleep(0.001)
    start = time.perf_counter()
    interval = 1 / rate
    sent, total = 0, len(requests)
    while sent < total:
        now = time.perf_counter()
        # Every request due within half a millisecond goes out in this wake-up (the loops'
        # timers count whole milliseconds: a sleep shorter than one wakes at once and spins).
        # Its clock starts when it was due, or when it was sent if that was earlier.
        while sent < total and (scheduled := start + sent * interval) <= now + EARLY:
            if now - scheduled > 0.001:
                result.late_starts += 1
            generator.submit(min(scheduled, now), requests[sent])
            sent += 1
        if sent < total:
            await asyncio.sleep(start + sent * interval - time.perf_counter())
    generator.stopping = True
    generator._maybe_done()
    await generator.all_answered
    result.duration_s = time.perf_counter() - start
    for connection in generator.free:
        if connection.transport is not None:
            connection.scheduled = -1.0
            connection.transport.close()
    return result


def run_open_loop(*, host: str, port: int, requests: list[bytes], rate: float, connections: int) -> OpenLoopResult:
    return uvloop.run(_run(host, port, requests, rate, connections))
