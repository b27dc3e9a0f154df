"""Venue credentials (admin): add, list, rotate and delete; responses carry masked API keys only."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, HTTPException, Path
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from tradeforge.api.deps import KeyAdmin, Service, actor
from tradeforge.api.errors import problem_responses
from tradeforge.api.routing import ExactJSONRoute
from tradeforge.api.schemas import IDENTIFIER_PATTERN, Timestamp
from tradeforge.runtime.service import TradingService
from tradeforge.security.credentials import (
    MAX_SECRET_LENGTH,
    CredentialExists,
    CredentialNotFound,
    CredentialService,
)
from tradeforge.security.secrets import MasterKeyError, MasterKeySource, SealedValueError

router = APIRouter(prefix="/api/v1/credentials", tags=["credentials"], route_class=ExactJSONRoute)
T = TypeVar("T")

SecretText = Annotated[SecretStr, Field(min_length=1, max_length=MAX_SECRET_LENGTH)]
CredentialId = Annotated[str, Path(pattern=IDENTIFIER_PATTERN, description="the credential's id")]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CredentialCreate(_Request):
    """A venue's API key pair. Secrets are write-only: no response ever contains them."""

    venue: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$", examples=["binance"])]
    label: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-]{1,64}$", examples=["main"])]
    api_key: SecretText
    secret: SecretText
    passphrase: SecretText | None = Field(None, description="OKX (and other venues') API passphrase")
    sandbox: bool = False

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"venue": "binance", "label": "main", "api_key": "<key>", "secret": "<secret>"}]
        }
    )


class CredentialRotate(_Request):
    """A new secret, and optionally a new API key and passphrase; the id stays."""

    secret: SecretText
    api_key: SecretText | None = None
    passphrase: SecretText | None = None


class CredentialOut(BaseModel):
    id: str
    venue: str
    label: str
    sandbox: bool
    api_key: str = Field(description="masked: the first 4 characters and an ellipsis", examples=["AbCd…"])
    has_passphrase: bool
    master_key: str = Field(description="fingerprint of the master key the credential is sealed with")
    created_at: Timestamp
    updated_at: Timestamp
    rotated_at: Timestamp | None


class CredentialList(BaseModel):
    items: list[CredentialOut]
    next_cursor: str | None = None


def _credentials(service: TradingService) -> CredentialService:
    system = service.system
    keys = MasterKeySource(system.settings.var_dir, dict(os.environ))
    return CredentialService(system.uow_factory, system.clock, keys)


async def _call(function: Callable[[], T]) -> T:
    """Run a blocking credential operation off the loop, with its errors as problem responses."""
    try:
        return await asyncio.to_thread(function)
    except CredentialNotFound as error:
        raise HTTPException(404, str(error)) from None
    except CredentialExists as error:
        raise HTTPException(409, str(error)) from None
    except (MasterKeyError, SealedValueError) as error:
        # The server's key configuration, not the request, is wrong: nothing was changed.
        raise HTTPException(503, f"the credential store cannot be used: {error}") from None


def _plain(value: SecretStr | None) -> str | None:
    return None if value is None else value.get_secret_value()


@router.get(
    "",
    response_model=CredentialList,
    summary="List venue credentials",
    description="Every stored credential with its API key masked; secrets are never returned.",
    responses=problem_responses(401, 403),
)
async def list_credentials(key: KeyAdmin, service: Service) -> Any:
    items = await _call(_credentials(service).list)
    return {"items": [info.to_dict() for info in items], "next_cursor": None}


@router.get(
    "/{credential_id}",
    response_model=CredentialOut,
    summary="Show a venue credential (masked)",
    description="One credential by id, with its API key masked; secrets are never returned.",
    responses=problem_responses(401, 403, 404, 422),
)
async def get_credential(key: KeyAdmin, service: Service, credential_id: CredentialId) -> Any:
    return (await _call(lambda: _credentials(service).get(credential_id))).to_dict()


@router.post(
    "",
    status_code=201,
    response_model=CredentialOut,
    summary="Store a venue credential",
    description="Encrypted with the master key before it is stored; the answer shows the key masked.",
    responses=problem_responses(401, 403, 409, 415, 422, 503),
)
async def add_credential(key: KeyAdmin, service: Service, body: CredentialCreate) -> Any:
    credentials = _credentials(service)
    info = await _call(
        lambda: credentials.add(
            body.venue,
            body.label,
            body.api_key.get_secret_value(),
            body.secret.get_secret_value(),
            _plain(body.passphrase),
            body.sandbox,
            actor(key),
        )
    )
    return info.to_dict()


@router.post(
    "/{credential_id}/rotate",
    response_model=CredentialOut,
    summary="Rotate a venue credential's secret",
    description="Replaces the secret (and the API key or passphrase when given), keeping the id.",
    responses=problem_responses(401, 403, 404, 415, 422, 503),
)
async def rotate_credential(
    key: KeyAdmin, service: Service, credential_id: CredentialId, body: CredentialRotate
) -> Any:
    credentials = _credentials(service)
    info = await _call(
        lambda: credentials.rotate(
            credential_id,
            body.secret.get_secret_value(),
            _plain(body.api_key),
            _plain(body.passphrase),
            actor(key),
        )
    )
    return info.to_dict()


@router.delete(
    "/{credential_id}",
    response_model=CredentialOut,
    summary="Delete a venue credential",
    description="Removes the credential for good (recorded in the audit log); answers it, masked.",
    responses=problem_responses(401, 403, 404, 422),
)
async def delete_credential(key: KeyAdmin, service: Service, credential_id: CredentialId) -> Any:
    info = await _call(lambda: _credentials(service).delete(credential_id, actor(key)))
    return info.to_dict()
