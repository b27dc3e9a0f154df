"""Fills (executions) of the key's account."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from tradeforge.api.deps import Cursor, Limit, Service, SymbolFilter, Viewer
from tradeforge.api.errors import problem_responses
from tradeforge.api.routing import ExactJSONRoute
from tradeforge.api.schemas import IDENTIFIER_PATTERN, FillPage
from tradeforge.ports.persistence import FillQuery

router = APIRouter(prefix="/api/v1/fills", tags=["portfolio"], route_class=ExactJSONRoute)


@router.get(
    "",
    response_model=FillPage,
    summary="List fills",
    description="Newest first. Pass `next_cursor` back as `cursor` for the next page.",
    responses=problem_responses(401, 403, 422),
)
async def list_fills(
    key: Viewer,
    service: Service,
    symbol: SymbolFilter = None,
    order_id: Annotated[
        str | None, Query(pattern=IDENTIFIER_PATTERN, description="only this order's fills")
    ] = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Any:
    query = FillQuery(account_id=key.account_id, symbol=symbol, order_id=order_id, cursor=cursor, limit=limit)
    page = await service.list_fills(query)
    return {"items": page.items, "next_cursor": page.next_cursor}
