"""One router per resource; `ROUTERS` is the order they are mounted in."""

from __future__ import annotations

from fastapi import APIRouter

from tradeforge.api.routes import (
    audit,
    backtests,
    balances,
    credentials,
    fills,
    health,
    keys,
    orders,
    positions,
    reconciliation,
    risk,
    strategies,
)

ROUTERS: tuple[APIRouter, ...] = (
    orders.router,
    fills.router,
    positions.router,
    balances.router,
    risk.router,
    reconciliation.router,
    strategies.router,
    backtests.router,
    keys.router,
    credentials.router,
    audit.router,
    health.router,
)
