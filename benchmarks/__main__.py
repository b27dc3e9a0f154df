"""Benchmarks: `make bench`, or `python -m benchmarks [inprocess|rest|indicators|backtest_peers|adapter]`."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path


def calibrate() -> float:
    """Seconds for a bare 10-million-step Python loop, best of three: this machine's speed right now.
    Shared hosts vary by a third from hour to hour; compare runs through this figure."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for step in range(10_000_000):
            total += step
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    wanted = {arg for arg in sys.argv[1:] if not arg.startswith("-")} or {
        "inprocess",
        "rest",
        "indicators",
        "backtest_peers",
        "adapter",
    }
    from benchmarks.common import console

    console.print(f"calibration: a bare 10M-step Python loop takes {calibrate():.3f} s on this machine now")
    with tempfile.TemporaryDirectory(prefix="tradeforge-bench-") as tmp:
        workdir = Path(tmp)
        if "inprocess" in wanted:
            from benchmarks import inprocess

            inprocess.main(workdir)
        if "rest" in wanted:
            from benchmarks import rest

            rest.main(workdir)
        if "indicators" in wanted:
            from benchmarks import indicators

            indicators.main(workdir)
        if "backtest_peers" in wanted:
            from benchmarks import backtest_peers

            backtest_peers.main(workdir)
        if "adapter" in wanted:
            from benchmarks import adapter

            adapter.main(workdir)


if __name__ == "__main__":
    main()
