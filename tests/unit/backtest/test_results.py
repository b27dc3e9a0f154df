"""BacktestResult's --json object, the full results payload, and the progress bar helper."""

from __future__ import annotations

import io
import json
from decimal import Decimal

import numpy as np
import pytest
from rich.console import Console
from tests.unit.backtest.factories import MINUTE, fill, sample_closes

from tradeforge.backtest.metrics import compute_metrics
from tradeforge.backtest.results import PROGRESS_EVERY_BARS, SUMMARY_KEYS, BacktestResult, progress_bar
from tradeforge.backtest.trades import round_trips
from tradeforge.domain.balances import fill_cash_flows

D = Decimal


def real_result() -> BacktestResult:
    """Two long trips on the real sample, then a long left open: final equity marks it at the last close."""
    ts, closes = sample_closes()
    prices = {i: f"{closes[i]:.2f}" for i in (10, 2_000, 3_000, 6_000, 9_000)}
    fills = [
        fill("buy", "0.1", prices[10], "0.843", ts=int(ts[10])),
        fill("sell", "0.1", prices[2_000], "0.85", ts=int(ts[2_000])),
        fill("buy", "0.2", prices[3_000], "1.7", ts=int(ts[3_000])),
        fill("sell", "0.2", prices[6_000], "1.7", ts=int(ts[6_000])),
        fill("buy", "0.05", prices[9_000], "0.4", ts=int(ts[9_000])),
    ]
    trips = round_trips(fills, bar_interval_ms=MINUTE)
    cash = D(10_000) + sum((fill_cash_flows(f, "BTC", "USDT")["USDT"] for f in fills), D(0))
    last_close = D(f"{closes[-1]:.2f}")
    final_equity = cash + D("0.05") * last_close
    holding = np.zeros(closes.size)
    cash_curve = np.full(closes.size, 10_000.0)
    for f in fills:
        i = int(np.searchsorted(ts, f.ts))
        sign = f.side.sign
        holding[i:] += sign * float(f.quantity)
        cash_curve[i:] -= sign * float(f.quantity * f.price) + float(f.fee)
    equity = cash_curve + holding * np.round(closes, 2)
    exposure = int(np.count_nonzero(holding))
    fees = sum((f.fee for f in fills), D(0))
    metrics = compute_metrics(equity, ts, trips, fees, exposure)
    return BacktestResult(
        strategy="toggle",
        params={"size": D("0.1"), "window": 20},
        data_file="data/samples/BTCUSDT_1m_2025-03-01_7d.parquet",
        bars=closes.size,
        orders=len(fills),
        elapsed_seconds=0.25,
        trips=trips,
        metrics=metrics,
        final_equity=final_equity,
        extra={"symbol": "BTC/USDT"},
    )


def test_summary_json_is_the_cli_object() -> None:
    result = real_result()
    summary = result.summary_json()
    assert list(summary)[: len(SUMMARY_KEYS)] == list(SUMMARY_KEYS)
    assert (summary["bars"], summary["orders"], summary["trades"]) == (10_080, 5, 2)
    assert D(summary["final_equity"]) == result.final_equity
    assert isinstance(summary["total_return"], float) and isinstance(summary["sharpe"], float)
    assert summary["max_drawdown"] == result.metrics.max_drawdown and summary["elapsed_seconds"] == 0.25
    # the equity curve ends where the exact final equity does
    assert summary["total_return"] == pytest.approx(float(result.final_equity) / 10_000 - 1, rel=1e-9)
    assert summary["fees_paid"] == "5.493" and summary["expectancy"] == str(result.metrics.expectancy)
    assert summary["profit_factor"] is None or isinstance(summary["profit_factor"], float)
    for key in (
        "cagr",
        "sortino",
        "calmar",
        "volatility",
        "win_rate",
        "exposure",
        "max_drawdown_duration_ms",
    ):
        assert key in summary
    assert "trade_count" not in summary  # it is "trades"
    assert summary["strategy"] == "toggle" and summary["params"] == {"size": "0.1", "window": 20}
    assert summary["data_file"].endswith(".parquet") and summary["symbol"] == "BTC/USDT"
    text = json.dumps(summary, allow_nan=False)
    assert json.loads(text) == summary


def test_net_pnl_of_closed_trips_plus_the_open_position_explains_final_equity() -> None:
    result = real_result()
    _, closes = sample_closes()
    closed = sum((t.net_pnl for t in result.trips), D(0))
    open_entry = D(f"{closes[9_000]:.2f}")
    open_pnl = D("0.05") * (D(f"{closes[-1]:.2f}") - open_entry) - D("0.4")
    assert result.final_equity == D(10_000) + closed + open_pnl


def test_undefined_metrics_are_null() -> None:
    ts = np.array([0], dtype=np.int64)
    metrics = compute_metrics(np.array([1_000.0]), ts, [], D(0), 0)
    result = BacktestResult("noop", {}, None, 1, 0, 0.0, [], metrics, D("1000"))
    summary = result.summary_json()
    assert summary["sharpe"] is None and summary["profit_factor"] is None and summary["win_rate"] is None
    assert summary["trades"] == 0 and summary["final_equity"] == "1000" and summary["data_file"] is None
    json.dumps(summary, allow_nan=False)


def test_the_full_payload_lists_every_round_trip() -> None:
    result = real_result()
    payload = result.to_dict()
    assert [D(trip["net_pnl"]) for trip in payload["round_trips"]] == [t.net_pnl for t in result.trips]
    assert payload["round_trips"][0]["bars_held"] == 1_990
    assert {k: v for k, v in payload.items() if k != "round_trips"} == result.summary_json()


def test_inconsistent_results_are_refused() -> None:
    metrics = compute_metrics(np.array([1.0, 2.0]), np.array([0, MINUTE], dtype=np.int64), [], D(0), 0)
    with pytest.raises(ValueError, match="bars"):
        BacktestResult("s", {}, None, 3, 0, 0.0, [], metrics, D(2))
    trips = round_trips([fill("buy", "1", "1"), fill("sell", "1", "2")])
    with pytest.raises(ValueError, match="round trips"):
        BacktestResult("s", {}, None, 2, 0, 0.0, trips, metrics, D(2))
    with pytest.raises(ValueError, match="final_equity"):
        BacktestResult("s", {}, None, 2, 0, 0.0, [], metrics, D("NaN"))
    with pytest.raises(ValueError, match="elapsed_seconds"):
        BacktestResult("s", {}, None, 2, 0, -1.0, [], metrics, D(2))


def test_progress_bar_reports_to_its_console() -> None:
    output = io.StringIO()
    console = Console(file=output, force_terminal=True, width=100)
    total = 25_000
    with progress_bar(total, "BTC/USDT [toggle]", enabled=True, console=console) as advance:
        for _ in range(total // PROGRESS_EVERY_BARS):
            advance(PROGRESS_EVERY_BARS)
        advance(total % PROGRESS_EVERY_BARS)
    text = output.getvalue()
    assert "BTC/USDT [toggle]" in text  # shown literally, not taken as rich markup
    assert "25000/25000" in text


def test_a_disabled_progress_bar_prints_nothing() -> None:
    output = io.StringIO()
    console = Console(file=output, force_terminal=True)
    with progress_bar(100, "quiet", enabled=False, console=console) as advance:
        for _ in range(10):
            assert advance(10) is None
    assert output.getvalue() == ""
    with pytest.raises(ValueError), progress_bar(-1, "bad", enabled=True):
        pass
