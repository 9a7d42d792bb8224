"""An open-loop load generator: requests are sent at a fixed arrival rate whatever the
server does, and latency is measured from each request's scheduled time (so a slow server
cannot hide its queueing: no coordinated omission). Keep-alive HTTP/1.1 over asyncio."""

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class OpenLoopResult:
    latencies_us: list[int] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)
    replayed: int = 0
    socket_errors: int = 0
    late_starts: int = 0  # requests the generator itself could not send on time (> 1 ms late)
    duration_s: float = 0.0


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    if "content-length" not in headers:
        # Chunked framing is valid HTTP, but the wallet answers always carry a length.
        raise RuntimeError(f"answer without Content-Length: {lines[0]!r} {headers}")
    body = await reader.readexactly(int(headers["content-length"]))
    return status, headers, body


async def _run(host: str, port: int, requests: list[bytes], rate: float, connections: int) -> OpenLoopResult:
    result = OpenLoopResult()
    queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()

    async def connection_worker() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        while (item := await queue.get()) is not None:
            scheduled, raw = item
            try:
                writer.write(raw)
                status, headers, body = await _read_response(reader)
            except (OSError, asyncio.IncompleteReadError):
                result.socket_errors += 1
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                continue
            result.latencies_us.append(int((time.perf_counter() - scheduled) * 1e6))
            if headers.get("connection", "").lower() == "close":
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
            result.statuses[status] += 1
            if headers.get("idempotent-replayed") == "true":
                result.replayed += 1
            if status != 200:
                marker = body.find(b'"code":"')
                code = body[marker + 8 : body.find(b'"', marker + 8)].decode() if marker >= 0 else f"HTTP_{status}"
                result.codes[code] += 1
        writer.close()

    workers = [asyncio.create_task(connection_worker()) for _ in range(connections)]
    start = time.perf_counter()
    for i, raw in enumerate(requests):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -0.001:
            result.late_starts += 1
        queue.put_nowait((scheduled, raw))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    result.duration_s = time.perf_counter() - start
    return result


def run_open_loop(*, host: str, port: int, requests: list[bytes], rate: float, connections: int) -> OpenLoopResult:
    return asyncio.run(_run(host, port, requests, rate, connections))
