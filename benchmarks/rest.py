"""REST benchmark: orders per second and latency through the real service process, on SQLite and
PostgreSQL, at a steady 200 orders/s and at saturation, beside a trivial FastAPI route. Also the CPU
each request cost the server process (all its threads) and the load generator: on a shared host the
rates swing by a third, the CPU per request much less."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from benchmarks.common import ROOT, console, database, show
from benchmarks.loadgen import LoadResult, get, post_json, run_load

TRADEFORGE = Path(sys.executable).with_name("tradeforge")
STEADY_RATE = 200
STEADY_SECONDS = 10.0
SATURATION_SECONDS = 10.0
SATURATION_CONNECTIONS = 32


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_ready(url: str, process: subprocess.Popen[bytes], path: str = "/ready") -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(url + path, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("server did not become ready")


def _start_service(database_url: str, workdir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEFORGE_")}
    env.update(
        TRADEFORGE_DATABASE_URL=database_url,
        TRADEFORGE_VAR_DIR=str(workdir / f"var-{port}"),
        TRADEFORGE_REPLAY_SPEED="600",
        TRADEFORGE_LOG_LEVEL="WARNING",
        TRADEFORGE_STARTING_BALANCES='{"USDT": "100000000000", "BTC": "1000000"}',
        TRADEFORGE_RISK='{"max_submits_per_second": null, "max_open_orders": null}',
    )
    log = (workdir / f"service-{port}.log").open("wb")
    return subprocess.Popen(
        [str(TRADEFORGE), "run", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _order_requests(key: str, run: str) -> object:
    def body(index: int) -> bytes:
        side = "buy" if index % 2 == 0 else "sell"
        return json.dumps(
            {
                "symbol": "BTC/USDT",
                "side": side,
                "type": "market",
                "quantity": "0.00010",
                "client_order_id": f"{run}-{index}",
            }
        ).encode()

    return post_json("/api/v1/orders", body, f"Authorization: Bearer {key}\r\n")


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a process and all its threads so far (Linux /proc); None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _measured(pid: int, load: Callable[[], LoadResult]) -> tuple[LoadResult, float | None]:
    """The load's result and the server's CPU milliseconds per answered request during it."""
    before = process_cpu_seconds(pid)
    result = load()
    after = process_cpu_seconds(pid)
    if before is None or after is None or not result.sent:
        return result, None
    return result, (after - before) * 1000 / result.sent


def _row(label: str, mode: str, result: LoadResult, server_cpu_ms: float | None) -> list[str]:
    other = {s: n for s, n in result.statuses.items() if s not in (200, 201)}
    server = "—" if server_cpu_ms is None else f"{server_cpu_ms:.3f}"
    return [
        label,
        mode,
        f"{result.ok:,}",
        f"{result.rate:,.0f}",
        f"{result.p50:.2f}",
        f"{result.percentile(99):.2f}",
        f"{result.errors + sum(other.values())}",
        f"{server}, {result.cpu_ms_per_request:.3f}",
    ]


def bench_service(backend: str, workdir: Path) -> list[list[str]]:
    rows: list[list[str]] = []
    with database(backend, workdir) as url:
        if url is None:
            return rows
        port = _free_port()
        process = _start_service(url, workdir, port)
        try:
            _wait_ready(f"http://127.0.0.1:{port}", process)
            key = (workdir / f"var-{port}" / "admin.key").read_text().strip()
            make = _order_requests(key, f"warm-{backend}")
            run_load("127.0.0.1", port, make, connections=8, duration_s=2.0, rate=None, expect=201)  # warm-up
            steady = _measured(
                process.pid,
                lambda: run_load(
                    "127.0.0.1",
                    port,
                    _order_requests(key, f"steady-{backend}"),
                    connections=16,
                    duration_s=STEADY_SECONDS,
                    rate=STEADY_RATE,
                    expect=201,
                ),
            )
            rows.append(_row(f"orders, {backend}", f"steady {STEADY_RATE}/s", *steady))
            saturated = _measured(
                process.pid,
                lambda: run_load(
                    "127.0.0.1",
                    port,
                    _order_requests(key, f"sat-{backend}"),
                    connections=SATURATION_CONNECTIONS,
                    duration_s=SATURATION_SECONDS,
                    rate=None,
                    expect=201,
                ),
            )
            rows.append(_row(f"orders, {backend}", "saturation", *saturated))
        finally:
            process.terminate()
            process.wait(timeout=30)
    return rows


def bench_trivial(workdir: Path) -> list[list[str]]:
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "benchmarks.trivial_app:app_factory",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        _wait_ready(f"http://127.0.0.1:{port}", process, "/ping")
        run_load("127.0.0.1", port, get("/ping"), connections=8, duration_s=1.0)
        result = _measured(
            process.pid,
            lambda: run_load(
                "127.0.0.1",
                port,
                get("/ping"),
                connections=SATURATION_CONNECTIONS,
                duration_s=SATURATION_SECONDS,
            ),
        )
        return [_row("trivial FastAPI GET", "saturation", *result)]
    finally:
        process.terminate()
        process.wait(timeout=30)


def main(workdir: Path) -> list[list[str]]:
    rows: list[list[str]] = []
    for backend in ("sqlite", "postgresql"):
        console.print(f"REST benchmark on {backend} …")
        rows.extend(bench_service(backend, workdir))
    rows.extend(bench_trivial(workdir))
    show(
        "REST: POST /api/v1/orders (market, filled, durable before the answer) and a trivial route; "
        f"saturation = {SATURATION_CONNECTIONS} connections back to back",
        ["what", "load", "ok", "req/s", "p50 ms", "p99 ms", "errors", "CPU ms/req srv, gen"],
        rows,
    )
    return rows
