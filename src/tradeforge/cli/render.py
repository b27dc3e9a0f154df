"""Rich tables for API resources; values are shown exactly as the API sent them (decimals as strings)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from rich import box
from rich.markup import escape
from rich.table import Table

from tradeforge.cli.common import console

ORDER_COLUMNS = (
    ("id", "id"),
    ("symbol", "symbol"),
    ("side", "side"),
    ("type", "type"),
    ("quantity", "qty"),
    ("price", "price"),
    ("status", "status"),
    ("filled_quantity", "filled"),
    ("average_price", "avg price"),
    ("reject_reason", "reason"),
    ("updated_at", "updated"),
)
POSITION_COLUMNS = (
    ("symbol", "symbol"),
    ("side", "side"),
    ("quantity", "qty"),
    ("average_price", "avg price"),
    ("mark_price", "mark"),
    ("unrealized_pnl", "unrealized pnl"),
    ("realized_pnl", "realized pnl"),
    ("fees", "fees"),
    ("updated_at", "updated"),
)
BALANCE_COLUMNS = (
    ("asset", "asset"),
    ("total", "total"),
    ("locked", "locked"),
    ("free", "free"),
    ("updated_at", "updated"),
)
FILL_COLUMNS = (
    ("id", "id"),
    ("order_id", "order"),
    ("symbol", "symbol"),
    ("side", "side"),
    ("quantity", "qty"),
    ("price", "price"),
    ("fee", "fee"),
    ("fee_asset", "fee asset"),
    ("liquidity", "liquidity"),
    ("ts", "time"),
)
STATUS_STYLES = {
    "filled": "green",
    "rejected": "red",
    "cancelled": "yellow",
    "expired": "yellow",
    "open": "cyan",
    "partially_filled": "cyan",
    "pending": "blue",
    "active": "green",
    "reducing": "yellow",
    "halted": "bold red",
}


def cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Mapping | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def items_table(title: str, items: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str]]) -> Table:
    table = Table(title=f"{title} ({len(items)})", box=box.SIMPLE_HEAD, pad_edge=False)
    for _, header in columns:
        # Only a reject reason may wrap: ids, numbers and times stay whole.
        table.add_column(header, no_wrap=header != "reason")
    for item in items:
        row = []
        for key, _ in columns:
            text = cell(item.get(key))
            style = STATUS_STYLES.get(text) if key in ("status", "state") else None
            row.append(f"[{style}]{text}[/]" if style else escape(text))
        table.add_row(*row)
    return table


def detail_table(title: str, item: Mapping[str, Any]) -> Table:
    table = Table(title=title, show_header=False)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value")
    for key, value in item.items():
        text = cell(value)
        style = STATUS_STYLES.get(text) if key in ("status", "state") else None
        table.add_row(key, f"[{style}]{text}[/]" if style else escape(text))
    return table


def print_list(title: str, page: Any, columns: Sequence[tuple[str, str]]) -> None:
    """A list response (`{"items": [...], "next_cursor": ...}` or a bare list) as a table."""
    items = page.get("items", []) if isinstance(page, Mapping) else list(page or [])
    out = console()
    out.print(items_table(title, items, columns))
    cursor = page.get("next_cursor") if isinstance(page, Mapping) else None
    if cursor:
        out.print(f"more results: repeat with --cursor {cursor}", markup=False)


def print_order(order: Mapping[str, Any], title: str = "Order") -> None:
    console().print(detail_table(title, order))


def print_risk_status(status: Mapping[str, Any]) -> None:
    summary = dict(_flatten({key: value for key, value in status.items() if key != "limits"}))
    console().print(detail_table("Risk status", summary))
    if isinstance(status.get("limits"), Mapping):
        print_limits(status["limits"])


def print_limits(limits: Mapping[str, Any]) -> None:
    table = Table(title="Risk limits")
    table.add_column("limit", style="bold", no_wrap=True)
    table.add_column("value")
    for key, value in _flatten(limits):
        table.add_row(key, cell(value))
    console().print(table)


def _flatten(value: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, Mapping) and item:
            rows.extend(_flatten(item, name + "."))
        else:
            rows.append((name, item))
    return rows
