"""One router per resource; `ROUTERS` is the order they are mounted in."""

from __future__ import annotations

from fastapi import APIRouter

from tradeforge.api.routes import (
    audit,
    balances,
    fills,
    health,
    keys,
    orders,
    positions,
    risk,
    strategies,
)

ROUTERS: tuple[APIRouter, ...] = (
    orders.router,
    fills.router,
    positions.router,
    balances.router,
    risk.router,
    strategies.router,
    keys.router,
    audit.router,
    health.router,
)
