"""A backtest's result (metadata, round trips, metrics) as the CLI's --json object, and run progress."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tradeforge.backtest.metrics import FloatArray, IntArray, Metrics
from tradeforge.backtest.report import to_jsonable, write_html_report, write_json
from tradeforge.backtest.trades import RoundTrip
from tradeforge.domain.values import decimal_str

if TYPE_CHECKING:
    from rich.console import Console

# The engine calls `advance` once per this many bars (and once more with the remainder): a rich
# update costs microseconds, so the bar's overhead disappears in the per-bar work.
PROGRESS_EVERY_BARS = 10_000

# The keys the issue guarantees, first and in this order; the other metrics follow.
SUMMARY_KEYS = (
    "bars",
    "orders",
    "trades",
    "final_equity",
    "total_return",
    "sharpe",
    "max_drawdown",
    "elapsed_seconds",
)


@dataclass(frozen=True, slots=True)
class BacktestResult:
    """Everything a finished backtest reports. final_equity is exact: cash plus any open position
    marked at the last close. bars and the number of trips must agree with the metrics."""

    strategy: str
    params: Mapping[str, Any]
    data_file: str | None
    bars: int
    orders: int
    elapsed_seconds: float
    trips: Sequence[RoundTrip]
    metrics: Metrics
    final_equity: Decimal
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.bars != self.metrics.bars:
            raise ValueError(f"bars ({self.bars}) differs from the metrics' bars ({self.metrics.bars})")
        if len(self.trips) != self.metrics.trade_count:
            raise ValueError(
                f"{len(self.trips)} round trips but the metrics counted {self.metrics.trade_count}"
            )
        if not self.final_equity.is_finite():
            raise ValueError("final_equity must be finite")
        if not math.isfinite(self.elapsed_seconds) or self.elapsed_seconds < 0:
            raise ValueError("elapsed_seconds must be a non-negative number")

    def summary_json(self) -> dict[str, Any]:
        """The object `tradeforge backtest --json` prints (a dict ready for json.dumps).

        Guaranteed keys first (SUMMARY_KEYS; trades = closed round trips), then every other metric,
        then strategy, data_file, params and any extra. Decimals are strings, floats floats and
        undefined values None."""
        metrics = self.metrics.to_dict()
        summary: dict[str, Any] = {
            "bars": self.bars,
            "orders": self.orders,
            "trades": len(self.trips),
            "final_equity": decimal_str(self.final_equity),
            "total_return": metrics.pop("total_return"),
            "sharpe": metrics.pop("sharpe"),
            "max_drawdown": metrics.pop("max_drawdown"),
            "elapsed_seconds": float(self.elapsed_seconds),
        }
        # Same numbers as "bars" and "trades": not repeated under a second name.
        del metrics["bars"], metrics["trade_count"]
        summary.update(metrics)
        summary["strategy"] = self.strategy
        summary["data_file"] = self.data_file
        summary["params"] = to_jsonable(self.params)
        for key, value in self.extra.items():
            summary.setdefault(key, to_jsonable(value))
        return summary

    def to_dict(self) -> dict[str, Any]:
        """The full results file: the summary plus every closed round trip."""
        payload = self.summary_json()
        payload["round_trips"] = [trip.to_dict() for trip in self.trips]
        return payload

    def write_report(
        self,
        directory: str | os.PathLike[str],
        *,
        title: str,
        timestamps_ms: IntArray,
        close: FloatArray,
        equity: FloatArray,
    ) -> dict[str, Path]:
        """Write report.html (equity, drawdown, price with trade markers) and result.json (summary
        and round trips) into `directory` (created if needed); their paths by name."""
        target = Path(directory)
        target.mkdir(parents=True, exist_ok=True)
        html = write_html_report(
            target / "report.html",
            title=title,
            timestamps_ms=timestamps_ms,
            close=close,
            equity=equity,
            trips=self.trips,
            metrics=self.metrics,
            params=self.params,
        )
        return {"report": html, "result": write_json(target / "result.json", self.to_dict())}


def _no_advance(n: int = 1) -> None:
    """Progress disabled: the engine's call costs one function call and nothing else."""


@contextmanager
def progress_bar(
    total: int, description: str, enabled: bool, *, console: Console | None = None
) -> Iterator[Callable[[int], None]]:
    """Yield advance(n) for a rich progress bar of `total` bars; a no-op when disabled.

    The bar goes to stderr (so `--json` output on stdout stays clean) unless a console is given.
    Usage in the engine loop, advancing every PROGRESS_EVERY_BARS bars:

        with progress_bar(len(bars), "BTC/USDT sma_cross", enabled=not quiet) as advance:
            for i in range(n):
                ...
                if (i + 1) % PROGRESS_EVERY_BARS == 0:
                    advance(PROGRESS_EVERY_BARS)
            advance(n % PROGRESS_EVERY_BARS)
    """
    if total < 0:
        raise ValueError("total must not be negative")
    if not enabled:
        yield _no_advance
        return
    # Imported here so that a disabled bar does not even load rich.
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console if console is not None else Console(stderr=True),
    )
    with progress:
        task = progress.add_task(escape(description), total=total)

        def advance(n: int = 1) -> None:
            progress.advance(task, n)

        yield advance
