"""Run every benchmark: `make bench` (or `python -m benchmarks [inprocess|rest|indicators]`)."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path


def main() -> None:
    wanted = set(sys.argv[1:]) or {"inprocess", "rest", "indicators"}
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


if __name__ == "__main__":
    main()
