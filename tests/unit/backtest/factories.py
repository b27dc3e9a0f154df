"""Builders for backtest tests: fills and round trips from short strings, the real BTCUSDT sample."""

from __future__ import annotations

import functools
from decimal import Decimal
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow.parquet as pq

from tradeforge.backtest.trades import RoundTrip, TradeSide
from tradeforge.domain.fills import Fill, Liquidity, OrderSide

SAMPLE = Path(__file__).resolve().parents[3] / "data" / "samples" / "BTCUSDT_1m_2025-03-01_7d.parquet"
MINUTE = 60_000
START = 1_740_787_200_000  # 2025-03-01 00:00 UTC


def fill(
    side: str,
    quantity: str,
    price: str,
    fee: str = "0",
    *,
    ts: int = 0,
    symbol: str = "BTC/USDT",
    fee_asset: str = "USDT",
    fill_id: str = "F",
) -> Fill:
    return Fill(
        fill_id=fill_id,
        order_id=f"O-{fill_id}",
        client_order_id=f"c-{fill_id}",
        account_id="main",
        venue="paper",
        symbol=symbol,
        side=OrderSide(side),
        quantity=Decimal(quantity),
        price=Decimal(price),
        fee=Decimal(fee),
        fee_asset=fee_asset,
        liquidity=Liquidity.TAKER,
        ts=ts,
    )


def trip(
    net: str, *, side: TradeSide = TradeSide.LONG, entry_ts: int = START, exit_ts: int = START
) -> RoundTrip:
    """A round trip with the given net pnl (no fees), for metrics that only read the pnl."""
    pnl = Decimal(net)
    return RoundTrip(
        symbol="BTC/USDT",
        side=side,
        quantity=Decimal(1),
        entry_ts=entry_ts,
        exit_ts=exit_ts,
        entry_price=Decimal(100),
        exit_price=Decimal(100) + pnl,
        gross_pnl=pnl,
        fees=Decimal(0),
        net_pnl=pnl,
    )


@functools.cache
def sample_closes() -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """(timestamps, closes) of the 7-day BTCUSDT 1-minute sample (10,080 real bars)."""
    table = pq.read_table(SAMPLE, columns=["timestamp", "close"])
    return table.column("timestamp").to_numpy(), table.column("close").to_numpy()
