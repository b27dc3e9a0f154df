"""API keys (admin): list, create (the secret is shown once) and revoke."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path

from tradeforge.api.deps import KeyAdmin, KeyCacheDep, Service, actor
from tradeforge.api.errors import problem_responses
from tradeforge.api.routing import ExactJSONRoute
from tradeforge.api.schemas import IDENTIFIER_PATTERN, KeyCreated, KeyCreateRequest, KeyList, KeyOut
from tradeforge.bus.codec import iso_ms
from tradeforge.ports.persistence import ApiKeyRecord

router = APIRouter(prefix="/api/v1/keys", tags=["keys"], route_class=ExactJSONRoute)


def key_to_dict(record: ApiKeyRecord) -> dict[str, Any]:
    """The public form of a key: never its hash."""
    return {
        "id": record.id,
        "name": record.name,
        "role": record.role,
        "account_id": record.account_id,
        "created_at": iso_ms(record.created_at),
        "revoked_at": iso_ms(record.revoked_at),
    }


@router.get(
    "",
    response_model=KeyList,
    summary="List API keys",
    description="Every key, revoked ones included; secrets are never shown again (only hashes are kept).",
    responses=problem_responses(401, 403),
)
async def list_keys(key: KeyAdmin, service: Service) -> Any:
    return {"items": [key_to_dict(record) for record in await service.list_keys()], "next_cursor": None}


@router.post(
    "",
    status_code=201,
    response_model=KeyCreated,
    summary="Create an API key",
    description="The secret is in this response only; it is stored as a hash and cannot be shown again.",
    responses=problem_responses(401, 403, 415, 422),
)
async def create_key(key: KeyAdmin, service: Service, body: KeyCreateRequest) -> Any:
    record, secret = await service.create_key(body.name, body.role.value, actor(key), body.account_id)
    return {**key_to_dict(record), "secret": secret}


@router.delete(
    "/{key_id}",
    response_model=KeyOut,
    summary="Revoke an API key",
    description="The key stops working at once in this process (within seconds in others).",
    responses=problem_responses(401, 403, 404, 422),
)
async def revoke_key(
    key: KeyAdmin,
    service: Service,
    cache: KeyCacheDep,
    key_id: Annotated[str, Path(pattern=IDENTIFIER_PATTERN)],
) -> Any:
    record = await service.revoke_key(key_id, actor(key))
    cache.clear()
    if record is None:
        raise HTTPException(404, f"API key {key_id} not found")
    return key_to_dict(record)
