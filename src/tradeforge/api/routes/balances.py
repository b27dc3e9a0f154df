"""Balances of the key's account: total, locked by working orders, and free."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from tradeforge.api.deps import Service, Viewer
from tradeforge.api.errors import problem_responses
from tradeforge.api.routing import ExactJSONRoute
from tradeforge.api.schemas import BalancePage

router = APIRouter(prefix="/api/v1/balances", tags=["portfolio"], route_class=ExactJSONRoute)


@router.get(
    "",
    response_model=BalancePage,
    summary="List balances",
    description="The books' balances per asset; `locked` is what working orders reserve.",
    responses=problem_responses(401, 403),
)
async def list_balances(key: Viewer, service: Service) -> Any:
    return {"items": service.balances(key.account_id), "next_cursor": None}
