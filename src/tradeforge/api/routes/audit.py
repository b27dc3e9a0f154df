"""Audit log (admin): who changed what and when, newest first."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query

from tradeforge.api.deps import AuditReader, Cursor, Limit, Service
from tradeforge.api.errors import problem_responses
from tradeforge.api.routing import ExactJSONRoute
from tradeforge.api.schemas import AuditPage
from tradeforge.bus.codec import iso_ms

router = APIRouter(prefix="/api/v1/audit", tags=["audit"], route_class=ExactJSONRoute)


@router.get(
    "",
    response_model=AuditPage,
    summary="Read the audit log",
    description="Newest first. Pass `next_cursor` back as `cursor` for the next page.",
    responses=problem_responses(401, 403, 422),
)
async def list_audit(
    key: AuditReader,
    service: Service,
    action: Annotated[
        str | None,
        Query(
            pattern=r"^[a-z_.]{1,64}$",
            description="only this action, e.g. risk.state",
            examples=["key.create"],
        ),
    ] = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Any:
    page = await service.list_audit(cursor, limit, action)
    items = [
        {
            "id": entry.id,
            "ts": iso_ms(entry.ts),
            "actor": entry.actor,
            "action": entry.action,
            "target": entry.target,
            "details": json.loads(entry.details),
        }
        for entry in page.items
    ]
    return {"items": items, "next_cursor": page.next_cursor}
