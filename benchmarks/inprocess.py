"""In-process submit→fill throughput: commands straight into the OMS, durable in the database."""

from __future__ import annotations

import gc
import time
from decimal import Decimal
from pathlib import Path

from benchmarks.common import SAMPLE, database, show
from tradeforge.adapters.market_data.bar_files import BarFile
from tradeforge.adapters.memory.uow import InMemoryStore
from tradeforge.api.app import GC_YOUNG_THRESHOLD
from tradeforge.domain.commands import SubmitOrder
from tradeforge.domain.fills import OrderSide
from tradeforge.domain.orders import OrderStatus, OrderType
from tradeforge.runtime.bootstrap import Mode, build
from tradeforge.runtime.settings import Settings

ORDERS = 20_000


def _settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        feeds=(),
        starting_balances={"USDT": Decimal("10000000000"), "BTC": Decimal("100000")},
        risk={"max_submits_per_second": None, "max_open_orders": None},
    )


def run_once(database_url: str | None, group: int, orders: int) -> tuple[float, int]:
    settings = _settings(database_url or "sqlite://")
    uow_factory = InMemoryStore() if database_url is None else None
    system = build(settings, Mode.SYNC, uow_factory=uow_factory, group_commit=group)
    # A fresh bar every 1,000 orders: one bar's volume (about 14 BTC) caps what it can fill.
    bars = iter(BarFile(SAMPLE, system.instruments.get("paper", "BTC/USDT")).bars())
    system.process_bar(next(bars))
    system.journal.flush()
    commands = [
        SubmitOrder(
            account_id=settings.account_id,
            client_order_id=f"b{i}",
            symbol="BTC/USDT",
            side=OrderSide.BUY if i % 2 == 0 else OrderSide.SELL,
            type=OrderType.MARKET,
            quantity=Decimal("0.001"),
        )
        for i in range(orders)
    ]
    send = system.send
    # The service's garbage-collector policy (api/app.py _long_lived_heap): the start-up heap frozen
    # out of collection and a larger young generation, so the run measures what the service runs.
    thresholds = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, thresholds[1], thresholds[2])
    started = time.perf_counter()
    filled = 0
    for index, command in enumerate(commands):
        if index % 1000 == 999:
            system.process_bar(next(bars))
        order, _ = send(command)
        filled += order.status is OrderStatus.FILLED
    system.journal.flush()  # every order durable before the clock stops
    elapsed = time.perf_counter() - started
    gc.unfreeze()
    gc.set_threshold(*thresholds)
    system.close()
    return orders / elapsed, filled


def main(workdir: Path) -> list[list[str]]:
    rows: list[list[str]] = []
    cases = [
        ("memory", None, 1),
        ("sqlite", "sqlite", 1),
        ("sqlite", "sqlite", 500),
        ("postgresql", "postgresql", 1),
        ("postgresql", "postgresql", 500),
    ]
    for label, backend, group in cases:
        count = ORDERS if group > 1 or backend is None else 3_000
        if backend is None:
            rate, filled = run_once(None, group, count)
        else:
            with database(backend, workdir) as url:
                if url is None:
                    continue
                rate, filled = run_once(url, group, count)
        commit = "n/a" if backend is None else ("every order" if group == 1 else f"groups of {group}")
        rows.append([label, commit, f"{count:,}", f"{filled:,}", f"{rate:,.0f}"])
    show(
        "In-process submit→fill (market orders, OMS + risk + paper venue + portfolio + persistence)",
        ["store", "commit", "orders", "filled", "orders/s"],
        rows,
    )
    return rows
