"""Positions of the key's account, marked at the last known price."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from tradeforge.api.deps import Service, SymbolFilter, Viewer
from tradeforge.api.errors import problem_responses
from tradeforge.api.routing import ExactJSONRoute
from tradeforge.api.schemas import PositionPage

router = APIRouter(prefix="/api/v1/positions", tags=["portfolio"], route_class=ExactJSONRoute)


@router.get(
    "",
    response_model=PositionPage,
    summary="List positions",
    description="Every position the account has held (flat ones included), derived from its fills.",
    responses=problem_responses(401, 403, 422),
)
async def list_positions(key: Viewer, service: Service, symbol: SymbolFilter = None) -> Any:
    items = service.positions(key.account_id)
    if symbol is not None:
        items = [item for item in items if item["symbol"] == symbol]
    return {"items": items, "next_cursor": None}
