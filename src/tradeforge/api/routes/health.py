"""Liveness, readiness and Prometheus metrics (no API key: for orchestrators and scrapers)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response

from tradeforge.api.errors import problem_responses
from tradeforge.api.routing import ExactJSONRoute
from tradeforge.api.schemas import HealthOut, ReadyOut
from tradeforge.observability.metrics import CONTENT_TYPE, Metrics
from tradeforge.runtime.replay import ReplayFeed
from tradeforge.runtime.system import TradingSystem
from tradeforge.runtime.venues import can_trade, venue_health

logger = logging.getLogger(__name__)
router = APIRouter(tags=["health"], route_class=ExactJSONRoute)
READINESS_PROBE_KEY = "health.ready"


@router.get("/health", response_model=HealthOut, summary="Liveness", description="The process answers.")
async def health() -> Any:
    return {"status": "ok"}


def _probe_database(system: TradingSystem) -> None:
    with system.uow_factory() as uow:
        uow.settings.get(READINESS_PROBE_KEY)


@router.get(
    "/ready",
    response_model=ReadyOut,
    summary="Readiness",
    description="200 once the trading system is built, its database answers and some venue can trade "
    "(with live venues configured, one of them: the paper venue alone does not count); 503 otherwise. "
    "A live venue halted by reconciliation (at start, until its books match) does not count. "
    "Every venue is listed with its state and trading state, a down one too.",
    responses=problem_responses(503),
)
async def ready(request: Request) -> Any:
    system: TradingSystem | None = getattr(request.app.state, "system", None)
    if system is None:
        raise HTTPException(503, "the trading system is not built yet")
    try:
        await asyncio.to_thread(_probe_database, system)
    except Exception as error:
        logger.warning("readiness probe: database did not answer: %s", error)
        raise HTTPException(503, f"the database does not answer: {type(error).__name__}") from error
    venues = venue_health(system)
    if not can_trade(venues):
        down = ", ".join(
            f"{v.name} {v.state if not v.up else 'halted: ' + v.trading_reason}"
            for v in venues
            if not v.up or v.trading == "halted"
        )
        raise HTTPException(503, f"no venue can trade: {down}")
    replay: ReplayFeed | None = getattr(request.app.state, "replay", None)
    return {
        "status": "ready",
        "mode": system.mode,
        "database": system.settings.database_url.split(":", 1)[0].split("+", 1)[0],
        "trading_state": system.risk.state.value,
        "working_orders": len(system.cache.all_working()),
        "replay_bars": None if replay is None else replay.bars_replayed,
        "venues": [venue.to_dict() for venue in venues],
    }


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    description="Text exposition format: HTTP traffic, order events, fills, trading state, replay.",
    response_class=Response,
    responses={
        200: {
            "content": {CONTENT_TYPE.split(";")[0]: {"schema": {"type": "string"}}},
            "description": "metrics",
        }
    },
)
async def metrics(request: Request) -> Response:
    registry: Metrics = request.app.state.metrics
    return Response(registry.render(), media_type=CONTENT_TYPE)
