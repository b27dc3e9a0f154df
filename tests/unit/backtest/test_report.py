"""HTML report (parsed back with html.parser) and JSON output of backtest results."""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from tests.unit.backtest.factories import MINUTE, START, fill, sample_closes

from tradeforge.backtest.metrics import Metrics, compute_metrics
from tradeforge.backtest.report import (
    MAX_CHART_POINTS,
    MAX_TRADE_ROWS,
    format_metric,
    minmax_indices,
    to_jsonable,
    write_html_report,
    write_json,
)
from tradeforge.backtest.trades import RoundTrip, TradeSide, round_trips

D = Decimal


class Page(HTMLParser):
    """Collects every start tag with its attributes, the text of each element kind, and table cells."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.stack: list[str] = []
        self.text: dict[str, list[str]] = {}
        self.cells: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self.stack.append(tag)
        if tag == "td":
            self.cells.append("")

    def handle_endtag(self, tag: str) -> None:
        while self.stack and self.stack.pop() != tag:
            pass

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        if self.stack:
            self.text.setdefault(self.stack[-1], []).append(data)
            if self.stack[-1] == "td":
                self.cells[-1] += data

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


def real_backtest() -> tuple[
    npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.float64], list[RoundTrip]
]:
    """A long/flat toggle every 720 real BTCUSDT bars, filled at the close; equity marked per bar."""
    ts, closes = sample_closes()
    fills = []
    for number, i in enumerate(range(100, closes.size - 1, 720)):
        side = "buy" if number % 2 == 0 else "sell"
        fills.append(fill(side, "0.1", f"{closes[i]:.2f}", "0.5", ts=int(ts[i]), fill_id=str(number)))
    if len(fills) % 2:
        fills.append(fill("sell", "0.1", f"{closes[-1]:.2f}", "0.5", ts=int(ts[-1]), fill_id="last"))
    cash = np.full(closes.size, 10_000.0)
    holding = np.zeros(closes.size)
    for f in fills:
        i = int(np.searchsorted(ts, f.ts))
        sign = 1.0 if f.side.value == "buy" else -1.0
        cash[i:] -= sign * float(f.quantity * f.price) + float(f.fee)
        holding[i:] += sign * float(f.quantity)
    return ts, closes, cash + holding * closes, round_trips(fills, bar_interval_ms=MINUTE)


def metrics_for(ts: Any, equity: Any, trips: list[RoundTrip]) -> Metrics:
    return compute_metrics(equity, ts, trips, sum((t.fees for t in trips), D(0)), exposure_bars=0)


def test_the_report_has_three_svg_charts_tables_and_escaped_text(tmp_path: Path) -> None:
    ts, closes, equity, trips = real_backtest()
    metrics = metrics_for(ts, equity, trips)
    title = 'BTC/USDT <script>alert("x")</script> & more'
    params = {"<b>fast</b>": 10, "threshold": D("0.0015"), "note": "</td><script>"}
    path = write_html_report(
        tmp_path / "out" / "report.html",
        title=title,
        timestamps_ms=ts,
        close=closes,
        equity=equity,
        trips=trips,
        metrics=metrics,
        params=params,
    )
    raw = path.read_text(encoding="utf-8")
    assert "<script" not in raw.lower()  # the title and parameters are text, never markup
    assert "&lt;script&gt;" in raw
    page = parse(path)
    assert "".join(page.text["title"][:1]) == title
    assert "".join(page.text["h1"]) == title

    svgs = {attrs["id"] for attrs in page.all("svg")}
    assert svgs == {"equity-chart", "drawdown-chart", "price-chart"}
    polylines = [attrs["points"] or "" for attrs in page.all("polyline")]
    assert len(polylines) == 3
    for points in polylines:
        pairs = points.split()
        assert 1_000 < len(pairs) <= 10_080
        assert all(re.fullmatch(r"-?\d+\.\d,-?\d+\.\d", pair) for pair in pairs)
    paths = {attrs.get("class"): attrs["d"] or "" for attrs in page.all("path")}
    longs = [t for t in trips if t.side is TradeSide.LONG]
    assert paths["markers-long"].count("M") == len(longs) == len(trips)  # one entry marker per trip
    exits = paths.get("markers-win", "").count("M") + paths.get("markers-loss", "").count("M")
    assert exits == len(trips)
    assert paths["drawdown-area"].endswith("Z") and paths["drawdown-area"].count(",") > 1_000

    svg_text = " ".join(page.text.get("text", []))
    assert "Equity" in svg_text and "Drawdown" in svg_text and "Time (UTC)" in svg_text
    assert "03-01 00:00" in svg_text  # dated x axis

    for key, value in metrics.to_dict().items():
        assert format_metric(key, value) in page.cells, key
    assert "<b>fast</b>" in page.cells and "</td><script>" in page.cells and "0.0015" in page.cells
    assert len(trips) == 7 and f"{len(trips)}" in page.cells

    for attrs in (a for _, a in page.tags):
        for name in ("src", "href"):
            assert not re.match(r"\s*(https?:)?//", attrs.get(name) or ""), attrs
    assert "http://" not in raw and "https://" not in raw


def test_metric_formatting() -> None:
    assert format_metric("total_return", 0.1) == "10.00%"
    assert format_metric("max_drawdown", 0.25) == "25.00%"
    assert format_metric("sharpe", 1.23456) == "1.235"
    assert format_metric("sharpe", None) == "n/a"
    assert format_metric("expectancy", D("1.123456789")) == "1.12345679"
    assert format_metric("start_ts", START) == "2025-03-01 00:00:00"
    assert format_metric("max_drawdown_duration_ms", 90_061_000) == "1d 01:01:01"
    assert format_metric("trade_count", 12_345) == "12,345"
    assert format_metric("periods_per_year", 525_600.0) == "525,600"


def test_only_the_first_trades_are_listed_with_a_note(tmp_path: Path) -> None:
    n = 2_000
    ts = START + np.arange(n, dtype=np.int64) * MINUTE
    closes = np.linspace(100.0, 200.0, n)
    fills = []
    for i in range(0, n - 1, 2):
        fills.append(fill("sell", "1", f"{closes[i]:.4f}", ts=int(ts[i])))
        fills.append(fill("buy", "1", f"{closes[i + 1]:.4f}", ts=int(ts[i + 1])))
    trips = round_trips(fills)
    assert len(trips) == 1_000
    path = write_html_report(
        tmp_path / "r.html",
        title="shorts",
        timestamps_ms=ts,
        close=closes,
        equity=np.full(n, 1_000.0),
        trips=trips,
        metrics=metrics_for(ts, np.full(n, 1_000.0), trips),
        params={},
    )
    page = parse(path)
    trade_rows = [attrs for attrs in page.all("tr")]
    tables = page.all("table")
    assert len(tables) == 2  # metrics and trades; no parameters table when there are none
    assert len(trade_rows) == 2 + (len(metrics_for(ts, closes, []).to_dict()) + 2) + MAX_TRADE_ROWS
    notes = " ".join(page.text.get("p", []))
    assert f"Showing the first {MAX_TRADE_ROWS} of 1,000 round trips." in notes
    assert "No parameters." in notes
    d = {attrs.get("class"): attrs["d"] or "" for attrs in page.all("path")}
    assert d["markers-short"].count("M") == 1_000  # every marker drawn, not only the listed ones
    assert d["markers-loss"].count("M") == 1_000


def test_a_year_of_minute_data_stays_small_and_keeps_spikes(tmp_path: Path) -> None:
    n = 525_600
    rng = np.random.default_rng(11)
    ts = START + np.arange(n, dtype=np.int64) * MINUTE
    closes = 50_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.0008, n)))
    closes[300_001] *= 1.5  # a one-bar spike must survive downsampling
    equity = 10_000.0 + 0.1 * (closes - closes[0])
    fills = []
    for k, i in enumerate(range(50, n - 1, 130)):
        fills.append(fill("buy" if k % 2 == 0 else "sell", "0.1", f"{closes[i]:.2f}", "0.1", ts=int(ts[i])))
    trips = round_trips(fills[: len(fills) // 2 * 2])
    assert len(trips) > 2_000
    metrics = metrics_for(ts, equity, trips)
    path = write_html_report(
        tmp_path / "year.html",
        title="year",
        timestamps_ms=ts,
        close=closes,
        equity=equity,
        trips=trips,
        metrics=metrics,
        params={"bars": n},
    )
    assert path.stat().st_size < 3_000_000
    page = parse(path)
    for attrs in page.all("polyline"):
        assert len((attrs["points"] or "").split()) <= MAX_CHART_POINTS + 2
    keep = minmax_indices(closes)
    assert 300_001 in keep and keep[0] == 0 and keep[-1] == n - 1
    assert np.all(np.diff(keep) > 0) and keep.size <= MAX_CHART_POINTS + 2
    assert closes[keep].max() == closes.max() and closes[keep].min() == closes.min()


def test_minmax_indices_keeps_short_series_whole() -> None:
    assert minmax_indices(np.array([3.0, 1.0, 2.0])).tolist() == [0, 1, 2]
    assert minmax_indices(np.array([])).tolist() == []
    values = np.sin(np.arange(100_000) / 50.0)
    keep = minmax_indices(values, max_points=100)
    assert keep.size <= 102 and values[keep].max() == values.max() and values[keep].min() == values.min()


@pytest.mark.parametrize("bars", [0, 1, 2])
def test_degenerate_inputs_still_make_a_valid_page(tmp_path: Path, bars: int) -> None:
    ts = START + np.arange(bars, dtype=np.int64) * MINUTE
    equity = np.full(bars, 100.0)
    path = write_html_report(
        tmp_path / "tiny.html",
        title="tiny",
        timestamps_ms=ts,
        close=equity,
        equity=equity,
        trips=[],
        metrics=metrics_for(ts, equity, []),
        params={"x": None},
    )
    page = parse(path)
    assert {attrs["id"] for attrs in page.all("svg")} == {"equity-chart", "drawdown-chart", "price-chart"}
    assert "n/a" in page.cells and "No closed round trips." in " ".join(page.text["p"])
    assert len(page.all("polyline")) == (0 if bars == 0 else 3)


def test_mismatched_series_are_refused(tmp_path: Path) -> None:
    ts = START + np.arange(3, dtype=np.int64) * MINUTE
    with pytest.raises(ValueError, match="equal length"):
        write_html_report(
            tmp_path / "x.html",
            title="x",
            timestamps_ms=ts,
            close=np.ones(2),
            equity=np.ones(3),
            trips=[],
            metrics=metrics_for(ts, np.ones(3), []),
            params={},
        )


def test_json_keeps_decimals_exact_as_strings(tmp_path: Path) -> None:
    (trip,) = round_trips(
        [fill("buy", "0.00000001", "84338.54", "0.0000000843"), fill("sell", "0.00000001", "90000")]
    )
    payload = {
        "final_equity": D("10000.123456789012345678901234567890"),
        "trip": trip,
        "ratio": np.float64(1.5),
        "count": np.int64(3),
        "nan": math.nan,
        "side": TradeSide.SHORT,
        "nested": [D("1E+3"), (D("-0.10"),)],
        "path": tmp_path,
    }
    path = write_json(tmp_path / "deep" / "results.json", payload)
    loaded = json.loads(path.read_text(encoding="utf-8"))
    assert D(loaded["final_equity"]) == payload["final_equity"]
    assert loaded["final_equity"] == "10000.12345678901234567890123456789"
    assert D(loaded["trip"]["net_pnl"]) == trip.net_pnl and D(loaded["trip"]["fees"]) == trip.fees
    assert loaded["trip"]["gross_pnl"] == "0.0000566146"
    assert (loaded["ratio"], loaded["count"], loaded["nan"], loaded["side"]) == (1.5, 3, None, "short")
    assert loaded["nested"] == ["1000", ["-0.1"]] and loaded["path"] == str(tmp_path)
    with pytest.raises(TypeError):
        to_jsonable(object())
