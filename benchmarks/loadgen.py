"""A small HTTP/1.1 load generator on raw keep-alive sockets (uvloop when present).

Open loop: request i is due at start + i / rate and its latency counts from when it was due, so a
stalled server shows up in the tail instead of silently slowing the generator (no coordinated
omission). Closed loop: each connection sends its next request as soon as the previous answer
arrives, which measures saturation throughput."""

from __future__ import annotations

import asyncio
import itertools
import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

RequestFactory = Callable[[int], bytes]


@dataclass
class LoadResult:
    sent: int = 0
    ok: int = 0
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    elapsed_s: float = 0.0
    cpu_s: float = 0.0  # this process's CPU (user + system) while generating the load

    @property
    def cpu_ms_per_request(self) -> float:
        return self.cpu_s * 1000 / self.sent if self.sent else float("nan")

    @property
    def rate(self) -> float:
        return self.ok / self.elapsed_s if self.elapsed_s else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else float("nan")


def post_json(path: str, body_for: Callable[[int], bytes], headers: str = "") -> RequestFactory:
    def build(index: int) -> bytes:
        body = body_for(index)
        return (
            f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{headers}\r\n"
        ).encode() + body

    return build


def get(path: str, headers: str = "") -> RequestFactory:
    raw = f"GET {path} HTTP/1.1\r\nHost: bench\r\n{headers}\r\n".encode()
    return lambda _index: raw


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
            break
    if length:
        await reader.readexactly(length)
    return status


async def _run(
    host: str,
    port: int,
    make: RequestFactory,
    connections: int,
    duration_s: float,
    rate: float | None,
    expect: int,
) -> LoadResult:
    result = LoadResult()
    counter = itertools.count()
    start = time.perf_counter() + 0.2
    end = start + duration_s

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while True:
                index = next(counter)
                due = start + index / rate if rate else time.perf_counter()
                if due >= end:
                    return
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                result.sent += 1
                try:
                    status = await _exchange(reader, writer, make(index))
                except (OSError, asyncio.IncompleteReadError):
                    result.errors += 1
                    return
                result.latencies_ms.append((time.perf_counter() - due) * 1000)
                result.statuses[status] = result.statuses.get(status, 0) + 1
                if status == expect:
                    result.ok += 1
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    result.elapsed_s = max(time.perf_counter() - start, 1e-9)
    return result


def run_load(
    host: str,
    port: int,
    make: RequestFactory,
    *,
    connections: int,
    duration_s: float,
    rate: float | None = None,
    expect: int = 200,
) -> LoadResult:
    try:
        import uvloop

        runner: Callable[..., LoadResult] = uvloop.run
    except ImportError:
        runner = asyncio.run
    before = _cpu_seconds()
    result = runner(_run(host, port, make, connections, duration_s, rate, expect))
    result.cpu_s = _cpu_seconds() - before
    return result


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
