"""The OHLCV Arrow schema and the vectorised rules every stored table of bars obeys."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from tradeforge.domain.data import TIMEFRAME_MS
from tradeforge.domain.errors import ValidationError

COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")
VALUE_COLUMNS = COLUMNS[1:]
BAR_SCHEMA = pa.schema([("timestamp", pa.int64())] + [(name, pa.float64()) for name in VALUE_COLUMNS])
# Below this an epoch-ms value is before 1973-03-03: far more likely epoch seconds given by mistake
# (epoch seconds stay below it until the year 5138), so such times are refused.
EARLIEST_MS = 100_000_000_000

BarData = Any  # pyarrow.Table, pyarrow.RecordBatch or a mapping of column name to values


def timeframe_ms(timeframe: str) -> int:
    """The length of one bar in milliseconds; an unknown timeframe is a ValidationError."""
    try:
        return TIMEFRAME_MS[timeframe]
    except (KeyError, TypeError):
        known = ", ".join(TIMEFRAME_MS)
        raise ValidationError("timeframe", f"unknown timeframe {timeframe!r} (one of {known})") from None


def empty_table() -> pa.Table:
    return BAR_SCHEMA.empty_table()


def as_bar_table(data: BarData) -> pa.Table:
    """The six OHLCV columns of `data`, in schema order and types (values are not checked here)."""
    if isinstance(data, Mapping):
        data = pa.table({name: _as_array(data, name) for name in COLUMNS if name in data})
    elif isinstance(data, pa.RecordBatch):
        data = pa.Table.from_batches([data])
    elif not isinstance(data, pa.Table):
        raise ValidationError("bars", f"expected a pyarrow Table or a mapping of columns, got {type(data)}")
    arrays = []
    for field in BAR_SCHEMA:
        if field.name not in data.column_names:
            raise ValidationError(field.name, f"missing column {field.name!r}")
        column = data.column(field.name)
        kind = column.type
        if pa.types.is_null(kind):
            # An empty list (or one of only None) has no type; empty values are found by check_rows.
            pass
        elif field.name == "timestamp":
            if not pa.types.is_integer(kind):
                raise ValidationError("timestamp", f"must be integer epoch milliseconds, not {kind}")
        elif not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)):
            raise ValidationError(field.name, f"must be numeric, not {kind}")
        arrays.append(pc.cast(column, field.type, safe=not pa.types.is_decimal(kind)))
    return pa.Table.from_arrays(arrays, names=list(COLUMNS))


def _as_array(data: Mapping[str, Any], name: str) -> pa.Array:
    values = data[name]
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values
    return pa.array(list(values) if not isinstance(values, Sequence) else values)


def check_rows(
    table: pa.Table, timeframe: str, *, first_row: int = 1, names: Mapping[str, str] | None = None
) -> None:
    """Refuse the first row that breaks a rule: no empty values, finite numbers, volume >= 0,
    low <= open, close <= high, timestamps in milliseconds (not before 1973-03-03) and on the
    timeframe's grid.

    Rows are numbered from `first_row`; `names` maps a schema column to the name the user knows
    (e.g. a CSV's `date`). Raises ValidationError(column, "row N: ...")."""
    step = timeframe_ms(timeframe)
    if table.num_rows == 0:
        return
    shown = dict(names or {})
    col = {name: table.column(name) for name in COLUMNS}
    candidates: list[tuple[pa.Array, str, str]] = []
    for name in COLUMNS:
        candidates.append((pc.is_null(col[name]), name, "empty value"))
    for name in VALUE_COLUMNS:
        candidates.append((pc.invert(pc.is_finite(col[name])), name, "{v} is not a finite number"))
    candidates += [
        (pc.less(col["volume"], 0), "volume", "volume {v} is negative"),
        (pc.less(col["high"], col["open"]), "high", "high {v} is below open {open}"),
        (pc.less(col["high"], col["close"]), "high", "high {v} is below close {close}"),
        (pc.greater(col["low"], col["open"]), "low", "low {v} is above open {open}"),
        (pc.greater(col["low"], col["close"]), "low", "low {v} is above close {close}"),
        (
            pc.less(col["timestamp"], EARLIEST_MS),
            "timestamp",
            "{v} looks like epoch seconds, not milliseconds (times before 1973-03-03 are refused)",
        ),
        (
            pc.not_equal(col["timestamp"], _on_grid(col["timestamp"], step)),
            "timestamp",
            "{v} ({when}) is not the open of a " + timeframe + " bar",
        ),
    ]
    best: tuple[int, str, str] | None = None
    for mask, column, template in candidates:
        index = pc.index(pc.fill_null(mask, False), True).as_py()
        if index >= 0 and (best is None or index < best[0]):
            best = (index, column, template)
    if best is None:
        return
    index, column, template = best
    row = {name: col[name][index].as_py() for name in COLUMNS}
    value = row[column]
    message = template.format(
        v=value,
        when=_when(value) if isinstance(value, int) else "",
        **{k: v for k, v in row.items() if k in VALUE_COLUMNS},
    )
    raise ValidationError(shown.get(column, column), f"row {first_row + index}: {message}")


def _on_grid(timestamps: Any, step: int) -> Any:
    # Integer division truncates: a timestamp survives the round trip only when it is on the grid.
    return pc.multiply(pc.divide(timestamps, step), step)


def sort_unique(table: pa.Table, *, first_row: int = 1) -> tuple[pa.Table, int]:
    """The table sorted by timestamp with identical repeated rows dropped, and how many were dropped.

    A repeated timestamp with different values is refused, naming the later of the two rows
    (numbered from `first_row` in the given order)."""
    if table.num_rows < 2:
        return table, 0
    # sort_indices is stable, so equal timestamps stay in input order.
    order = pc.sort_indices(table.column("timestamp"))
    ordered = table.take(order)
    ts = ordered.column("timestamp")
    same_ts = pc.equal(ts.slice(1), ts.slice(0, len(ts) - 1))
    if not pc.any(same_ts).as_py():
        return ordered, 0
    differs = pa.array([False] * (len(ts) - 1))
    for name in VALUE_COLUMNS:
        values = ordered.column(name)
        differs = pc.or_(differs, pc.not_equal(values.slice(1), values.slice(0, len(values) - 1)))
    conflict = pc.and_(same_ts, differs)
    if pc.any(conflict).as_py():
        positions = pc.indices_nonzero(conflict)
        later = pc.take(order, pc.add(positions, 1))
        first = pc.index(later, pc.min(later)).as_py()
        earlier_row = order[positions[first].as_py()].as_py() + first_row
        later_row = later[first].as_py() + first_row
        stamp = ts[positions[first].as_py()].as_py()
        raise ValidationError(
            "timestamp",
            f"row {later_row}: {stamp} ({_when(stamp)}) repeats row {earlier_row} with different values",
        )
    repeat = pc.and_(same_ts, pc.invert(differs))
    keep = pc.invert(pa.concat_arrays([pa.array([False]), _flat(repeat)]))
    dropped = len(ts) - pc.sum(pc.cast(keep, pa.int64())).as_py()
    return ordered.filter(keep), dropped


def _flat(values: Any) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def gap_stats(timestamps: pa.Array | pa.ChunkedArray, timeframe: str) -> tuple[int, int]:
    """(missing bars, holes) in sorted, unique, aligned timestamps: bar slots absent between the first
    and the last, and the number of runs of such absent slots."""
    step = timeframe_ms(timeframe)
    count = len(timestamps)
    if count < 2:
        return 0, 0
    first, last = timestamps[0].as_py(), timestamps[count - 1].as_py()
    missing = (last - first) // step + 1 - count
    if missing == 0:
        return 0, 0
    steps = pc.pairwise_diff(_flat(timestamps))
    holes = pc.sum(pc.cast(pc.greater(steps, step), pa.int64())).as_py() or 0
    return missing, holes


def _when(ms: int) -> str:
    try:
        moment = datetime.fromtimestamp(ms / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return "out of range"
    text = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return text.replace(".000Z", "Z")
