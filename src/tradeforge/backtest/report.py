"""Backtest reports: one self-contained HTML file with inline SVG charts, and JSON with exact decimals."""

from __future__ import annotations

import dataclasses
import html
import json
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, localcontext
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tradeforge.backtest.metrics import Metrics, drawdown_series
from tradeforge.backtest.trades import RoundTrip, TradeSide
from tradeforge.domain.values import decimal_str

MAX_TRADE_ROWS = 500
MAX_CHART_POINTS = 4000  # per series: two points (min and max) per bucket
WIDTH, HEIGHT = 960, 300
LEFT, RIGHT, TOP, BOTTOM = 84, 24, 36, 46
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_PERCENT = {"total_return", "cagr", "volatility", "max_drawdown", "win_rate", "exposure"}
_RATIO = {"sharpe", "sortino", "calmar", "profit_factor"}
_TIMESTAMP = {"start_ts", "end_ts"}
_LABELS = {
    "start_ts": "First bar (UTC)",
    "end_ts": "Last bar (UTC)",
    "periods_per_year": "Bars per year",
    "cagr": "CAGR",
    "volatility": "Volatility (annualized)",
    "max_drawdown_duration_ms": "Max drawdown duration",
    "trade_count": "Round trips",
    "expectancy": "Expectancy (per trip)",
}

_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1000px;
color:#1f2328;padding:0 12px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.sub{color:#59636e;margin:0 0 16px}
.headline{display:flex;gap:12px;flex-wrap:wrap}
.headline div{border:1px solid #d1d9e0;border-radius:6px;padding:8px 12px;min-width:120px}
.headline b{display:block;font-size:18px}
svg{display:block;width:100%;height:auto;background:#fff;border:1px solid #d1d9e0;border-radius:6px}
svg text{font:12px system-ui,sans-serif;fill:#59636e}svg .title{font-size:14px;font-weight:600;fill:#1f2328}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}
td,th{border-bottom:1px solid #e4e8ec;padding:3px 10px;text-align:right}
th{background:#f6f8fa}td:first-child,th:first-child{text-align:left}
.pos{color:#1a7f37}.neg{color:#cf222e}.note{color:#59636e;font-style:italic}
"""


def to_jsonable(value: Any) -> Any:
    """Plain JSON values: Decimals as strings, numpy scalars as Python numbers, NaN/inf as None."""
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, Decimal):
        return decimal_str(value) if value.is_finite() else None
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, Enum):
        return to_jsonable(value.value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, Mapping):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, np.ndarray):
        return [to_jsonable(item) for item in value.tolist()]
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(item) for item in value]
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_jsonable(to_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value))
    raise TypeError(f"cannot convert {type(value).__name__} to JSON")


def write_json(path: str | os.PathLike[str], payload: Any) -> Path:
    """Write payload as strict JSON (UTF-8, indented); Decimals become strings, never floats."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(to_jsonable(payload), indent=2, allow_nan=False, ensure_ascii=False)
    target.write_text(text + "\n", encoding="utf-8")
    return target


def minmax_indices(values: FloatArray, max_points: int = MAX_CHART_POINTS) -> IntArray:
    """Indices to draw: each bucket's minimum and maximum (so spikes survive), plus both ends."""
    n = int(values.size)
    buckets = max(1, max_points // 2)
    if n <= max(2, max_points):
        return np.arange(n, dtype=np.int64)
    size = math.ceil(n / buckets)
    used = math.ceil(n / size)
    padded = np.empty(used * size, dtype=np.float64)
    padded[:n] = values
    padded[n:] = values[-1]
    grid = padded.reshape(used, size)
    offsets = np.arange(used, dtype=np.int64) * size
    lows = np.argmin(grid, axis=1) + offsets
    highs = np.argmax(grid, axis=1) + offsets
    chosen = np.concatenate((lows, highs, np.array([0, n - 1], dtype=np.int64)))
    result: IntArray = np.unique(np.minimum(chosen, n - 1))
    return result


def _nice_ticks(low: float, high: float, count: int = 5) -> tuple[list[float], float]:
    if not high > low:
        return [low], 1.0
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step)
    last = math.floor(high / step)
    return [i * step for i in range(first, last + 1)], step


def _tick_decimals(step: float) -> int:
    decimals = max(0, -math.floor(math.log10(step)))
    if not math.isclose(round(step, decimals), step, rel_tol=1e-9):
        decimals += 1
    return decimals


def _format_time(ts_ms: float, span_ms: float) -> str:
    moment = datetime.fromtimestamp(ts_ms / 1000, tz=UTC)
    if span_ms >= 10 * 86_400_000:
        return moment.strftime("%Y-%m-%d")
    if span_ms >= 86_400_000:
        return moment.strftime("%m-%d %H:%M")
    return moment.strftime("%H:%M:%S" if span_ms < 600_000 else "%H:%M")


@dataclasses.dataclass(frozen=True, slots=True)
class _Frame:
    """Data ranges mapped onto the plot area of a WIDTH x HEIGHT chart."""

    t0: float
    t1: float
    y0: float
    y1: float

    def x(self, ts: FloatArray) -> FloatArray:
        width = WIDTH - LEFT - RIGHT
        if self.t1 == self.t0:
            return np.full(ts.shape, LEFT + width / 2)
        result: FloatArray = LEFT + (ts - self.t0) / (self.t1 - self.t0) * width
        return result

    def y(self, values: FloatArray) -> FloatArray:
        result: FloatArray = TOP + (self.y1 - values) / (self.y1 - self.y0) * (HEIGHT - TOP - BOTTOM)
        return result


def _frame(ts: FloatArray, values: Iterable[float], *, top_at_zero: bool = False) -> _Frame:
    data = [v for v in values if math.isfinite(v)]
    low, high = (min(data), max(data)) if data else (0.0, 1.0)
    if top_at_zero:
        high = 0.0
        low = min(low, -1.0) if low == 0 else low * 1.05
    elif high == low:
        pad = abs(high) * 0.01 or 1.0
        low, high = low - pad, high + pad
    else:
        pad = (high - low) * 0.05
        low, high = low - pad, high + pad
    t0, t1 = (float(ts[0]), float(ts[-1])) if ts.size else (0.0, 1.0)
    return _Frame(t0, t1, low, high)


def _points(xs: FloatArray, ys: FloatArray) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs.tolist(), ys.tolist(), strict=True))


def _svg(
    chart_id: str,
    title: str,
    y_label: str,
    frame: _Frame,
    body: Sequence[str],
    y_format: Callable[[float], str],
    legend: Sequence[tuple[str, str]] = (),
) -> str:
    e = html.escape
    bottom = HEIGHT - BOTTOM
    parts = [
        f'<svg id="{e(chart_id)}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{e(title)}">',
        f"<title>{e(title)}</title>",
        f'<text class="title" x="{LEFT}" y="20">{e(title)}</text>',
    ]
    ticks, step = _nice_ticks(frame.y0, frame.y1)
    decimals = _tick_decimals(step)
    for tick, y in zip(ticks, frame.y(np.array(ticks, dtype=np.float64)).tolist(), strict=True):
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#eef1f4"/>')
        label = y_format(round(tick, decimals))
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{e(label)}</text>')
    span = frame.t1 - frame.t0
    times = [frame.t0 + span * i / 5 for i in range(6)] if span > 0 else [frame.t0]
    for i, (ts, x) in enumerate(zip(times, frame.x(np.array(times, dtype=np.float64)).tolist(), strict=True)):
        parts.append(f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 5}" stroke="#59636e"/>')
        anchor = "end" if i == 5 else "middle"  # the last label would overflow the right edge
        label = e(_format_time(ts, span))
        parts.append(f'<text x="{x:.1f}" y="{bottom + 18}" text-anchor="{anchor}">{label}</text>')
    parts.append(
        f'<path d="M{LEFT},{TOP}V{bottom}H{WIDTH - RIGHT}" fill="none" stroke="#59636e" stroke-width="1"/>'
    )
    parts.append(
        f'<text x="{(LEFT + WIDTH - RIGHT) / 2}" y="{HEIGHT - 6}" text-anchor="middle">Time (UTC)</text>'
    )
    middle = (TOP + bottom) / 2
    rotate = f"rotate(-90 14 {middle})"
    parts.append(f'<text x="14" y="{middle}" text-anchor="middle" transform="{rotate}">{e(y_label)}</text>')
    x = WIDTH - RIGHT
    for color, name in reversed(legend):
        x -= 12 + 7 * len(name)
        parts.append(f'<rect x="{x}" y="11" width="9" height="9" fill="{e(color)}"/>')
        parts.append(f'<text x="{x + 13}" y="20">{e(name)}</text>')
    parts.extend(body)
    parts.append("</svg>")
    return "\n".join(parts)


def _empty_chart(chart_id: str, title: str, message: str) -> str:
    e = html.escape
    return (
        f'<svg id="{e(chart_id)}" viewBox="0 0 {WIDTH} 80" role="img" aria-label="{e(title)}">'
        f"<title>{e(title)}</title>"
        f'<text class="title" x="{LEFT}" y="24">{e(title)}</text>'
        f'<text x="{LEFT}" y="54">{e(message)}</text></svg>'
    )


def _money_axis(value: float) -> str:
    return f"{value:,.10g}" if abs(value) < 1e15 else f"{value:.3g}"


def equity_chart(timestamps_ms: IntArray, equity: FloatArray) -> str:
    if equity.size == 0:
        return _empty_chart("equity-chart", "Equity", "No bars.")
    keep = minmax_indices(equity)
    ts = timestamps_ms[keep].astype(np.float64)
    values = equity[keep]
    frame = _frame(ts, (float(values.min()), float(values.max())))
    line = _points(frame.x(ts), frame.y(values))
    body = [f'<polyline fill="none" stroke="#0969da" stroke-width="1.3" points="{line}"/>']
    return _svg("equity-chart", "Equity", "Equity (quote)", frame, body, _money_axis)


def drawdown_chart(timestamps_ms: IntArray, equity: FloatArray) -> str:
    if equity.size == 0:
        return _empty_chart("drawdown-chart", "Drawdown", "No bars.")
    if equity[0] <= 0:
        return _empty_chart("drawdown-chart", "Drawdown", "Undefined: equity is not positive at the start.")
    drawdown = -100.0 * drawdown_series(equity)
    keep = minmax_indices(drawdown)
    ts = timestamps_ms[keep].astype(np.float64)
    values = drawdown[keep]
    frame = _frame(ts, (float(values.min()), 0.0), top_at_zero=True)
    xs, ys = frame.x(ts), frame.y(values)
    zero = float(frame.y(np.array([0.0]))[0])
    area = f"M{xs[0]:.1f},{zero:.1f}L" + " ".join(
        f"{x:.1f},{y:.1f}" for x, y in zip(xs.tolist(), ys.tolist(), strict=True)
    )
    area += f"L{xs[-1]:.1f},{zero:.1f}Z"
    body = [
        f'<path class="drawdown-area" d="{area}" fill="#cf222e" fill-opacity="0.25" stroke="none"/>',
        f'<polyline fill="none" stroke="#cf222e" stroke-width="1" points="{_points(xs, ys)}"/>',
    ]
    return _svg("drawdown-chart", "Drawdown", "Drawdown (%)", frame, body, lambda v: f"{v:g}%")


def price_chart(timestamps_ms: IntArray, close: FloatArray, trips: Sequence[RoundTrip]) -> str:
    """Close price with every round trip's entry and exit at its exact time and average price."""
    if close.size == 0:
        return _empty_chart("price-chart", "Price and trades", "No bars.")
    keep = minmax_indices(close)
    ts = timestamps_ms[keep].astype(np.float64)
    values = close[keep]
    first, last = int(timestamps_ms[0]), int(timestamps_ms[-1])
    shown = [trip for trip in trips if first <= trip.entry_ts <= last or first <= trip.exit_ts <= last]
    prices = [float(values.min()), float(values.max())]
    prices += [float(trip.entry_price) for trip in shown] + [float(trip.exit_price) for trip in shown]
    frame = _frame(ts, prices)
    line = _points(frame.x(ts), frame.y(values))
    body = [f'<polyline fill="none" stroke="#57606a" stroke-width="1" points="{line}"/>']
    # One path per marker kind keeps thousands of markers to a few dozen bytes each.
    kinds: dict[str, list[str]] = {"long": [], "short": [], "win": [], "loss": []}
    for trip in shown:
        if first <= trip.entry_ts <= last:
            x, y = _point(frame, trip.entry_ts, trip.entry_price)
            if trip.side is TradeSide.LONG:
                kinds["long"].append(f"M{x:.1f},{y:.1f}l-4.5,9h9z")
            else:
                kinds["short"].append(f"M{x:.1f},{y:.1f}l-4.5,-9h9z")
        if first <= trip.exit_ts <= last:
            x, y = _point(frame, trip.exit_ts, trip.exit_price)
            kinds["win" if trip.net_pnl >= 0 else "loss"].append(
                f"M{x:.1f},{y - 4.5:.1f}l4.5,4.5l-4.5,4.5l-4.5,-4.5z"
            )
    colors = {"long": "#1a7f37", "short": "#cf222e", "win": "#0969da", "loss": "#bc4c00"}
    for kind, segments in kinds.items():
        if segments:
            body.append(f'<path class="markers-{kind}" d="{"".join(segments)}" fill="{colors[kind]}"/>')
    legend = [
        (colors["long"], "long entry"),
        (colors["short"], "short entry"),
        (colors["win"], "exit, win"),
        (colors["loss"], "exit, loss"),
    ]
    return _svg("price-chart", "Price and trades", "Close (quote)", frame, body, _money_axis, legend)


def _point(frame: _Frame, ts: int, price: Decimal) -> tuple[float, float]:
    x = float(frame.x(np.array([float(ts)]))[0])
    y = float(frame.y(np.array([float(price)]))[0])
    return x, y


def _display_decimal(value: Decimal, places: int = 8) -> str:
    """Rounded to `places` decimals for reading; the JSON output keeps the exact value."""
    if not value.is_finite() or value.adjusted() >= 50:
        return str(value)
    with localcontext() as context:
        context.prec = 60
        return decimal_str(value.quantize(Decimal(1).scaleb(-places)))


def _format_timestamp(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def _format_duration(ms: int) -> str:
    days, rest = divmod(ms // 1000, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}:{seconds:02d}"
    return f"{days}d {clock}" if days else clock


def format_metric(name: str, value: Any) -> str:
    """How the report shows a metric: percentages, ratios to 3 decimals, UTC times, n/a for None."""
    if value is None:
        return "n/a"
    if isinstance(value, Decimal):
        return _display_decimal(value)
    if name in _PERCENT:
        return f"{float(value) * 100:.2f}%"
    if name in _RATIO:
        return f"{float(value):.3f}"
    if name in _TIMESTAMP:
        return _format_timestamp(int(value))
    if name == "max_drawdown_duration_ms":
        return _format_duration(int(value))
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() else f"{value:,.4f}"
    return str(value)


def _label(key: str) -> str:
    return _LABELS.get(key) or key.replace("_", " ").capitalize()


def _param_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, Decimal):
        return decimal_str(value)
    return json.dumps(to_jsonable(value), ensure_ascii=False)


def _table(header: Sequence[str], rows: Iterable[Sequence[tuple[str, str]]]) -> str:
    """rows hold (text, css class) cells; every text is escaped here."""
    e = html.escape
    head = "".join(f"<th>{e(cell)}</th>" for cell in header)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="{e(css)}">{e(text)}</td>' if css else f"<td>{e(text)}</td>" for text, css in row
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _sign_class(value: Decimal) -> str:
    return "pos" if value > 0 else "neg" if value < 0 else ""


def _trades_section(trips: Sequence[RoundTrip]) -> str:
    if not trips:
        return '<p class="note">No closed round trips.</p>'
    header = ["#", "symbol", "side", "quantity", "entry (UTC)", "entry price", "exit (UTC)", "exit price"]
    header += ["gross pnl", "fees", "net pnl", "bars held"]
    rows = []
    for number, trip in enumerate(trips[:MAX_TRADE_ROWS], start=1):
        rows.append(
            [
                (str(number), ""),
                (trip.symbol, ""),
                (trip.side.value, ""),
                (_display_decimal(trip.quantity), ""),
                (_format_timestamp(trip.entry_ts), ""),
                (_display_decimal(trip.entry_price), ""),
                (_format_timestamp(trip.exit_ts), ""),
                (_display_decimal(trip.exit_price), ""),
                (_display_decimal(trip.gross_pnl), _sign_class(trip.gross_pnl)),
                (_display_decimal(trip.fees), ""),
                (_display_decimal(trip.net_pnl), _sign_class(trip.net_pnl)),
                ("" if trip.bars_held is None else f"{trip.bars_held:,}", ""),
            ]
        )
    note = ""
    if len(trips) > MAX_TRADE_ROWS:
        note = f'<p class="note">Showing the first {MAX_TRADE_ROWS:,} of {len(trips):,} round trips.</p>'
    return note + _table(header, rows)


def write_html_report(
    path: str | os.PathLike[str],
    *,
    title: str,
    timestamps_ms: IntArray,
    close: FloatArray,
    equity: FloatArray,
    trips: Sequence[RoundTrip],
    metrics: Metrics,
    params: Mapping[str, Any],
) -> Path:
    """Write one self-contained HTML report (no scripts, no network) and return its path.

    Charts are inline SVG; series longer than MAX_CHART_POINTS are reduced to each bucket's min and
    max, trade markers are drawn at their exact times and prices; the trades table lists the first
    MAX_TRADE_ROWS round trips."""
    timestamps_ms = np.asarray(timestamps_ms, dtype=np.int64)
    close = np.asarray(close, dtype=np.float64)
    equity = np.asarray(equity, dtype=np.float64)
    if not timestamps_ms.shape == close.shape == equity.shape or timestamps_ms.ndim != 1:
        raise ValueError("timestamps_ms, close and equity must be one-dimensional and of equal length")
    e = html.escape
    values = metrics.to_dict()
    subtitle = f"{metrics.bars:,} bars"
    if metrics.start_ts is not None and metrics.end_ts is not None:
        subtitle += f", {_format_timestamp(metrics.start_ts)} to {_format_timestamp(metrics.end_ts)} UTC"
    headline_keys = ("total_return", "max_drawdown", "sharpe", "trade_count", "win_rate")
    headline = "".join(
        f"<div>{e(_label(key))}<b>{e(format_metric(key, values[key]))}</b></div>" for key in headline_keys
    )
    metric_rows = []
    if equity.size:
        metric_rows.append([("Start equity", ""), (_money_axis(float(equity[0])), "")])
        metric_rows.append([("End equity", ""), (_money_axis(float(equity[-1])), "")])
    metric_rows += [[(_label(k), ""), (format_metric(k, v), "")] for k, v in values.items()]
    param_rows = [[(str(key), ""), (_param_value(value), "")] for key, value in params.items()]
    document = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)}</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>{e(title)}</h1>
<p class="sub">{e(subtitle)}</p>
<div class="headline">{headline}</div>
<h2>Equity</h2>
{equity_chart(timestamps_ms, equity)}
<h2>Drawdown</h2>
{drawdown_chart(timestamps_ms, equity)}
<h2>Price and trades</h2>
{price_chart(timestamps_ms, close, trips)}
<h2>Metrics</h2>
{_table(["metric", "value"], metric_rows)}
<h2>Parameters</h2>
{_table(["parameter", "value"], param_rows) if param_rows else '<p class="note">No parameters.</p>'}
<h2>Round trips</h2>
{_trades_section(trips)}
</body>
</html>
"""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(document, encoding="utf-8")
    return target
