"""Request dependencies: the trading service, API key authentication and role-based permission checks."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.security.base import SecurityBase
from pydantic import AfterValidator

from tradeforge.api.schemas import IDENTIFIER_PATTERN, parse_symbol
from tradeforge.ports.persistence import ApiKeyRecord
from tradeforge.runtime.service import TradingService
from tradeforge.security.api_keys import hash_key
from tradeforge.security.rbac import Permission, allows

MAX_SECRET_LENGTH = 256
_CHALLENGE = 'Bearer realm="tradeforge"'
_SCHEME_NAME = "ApiKey"
_SCHEME = HTTPBearerModel(
    bearerFormat="tf_<id>_<secret>",
    description="An API key: `Authorization: Bearer <key>`. Roles: viewer (read), trader (read, trade), "
    "admin (everything). The first admin key is written to var/admin.key on the first start.",
)


def service_of(request: Request) -> TradingService:
    """The running trading service; 503 while the system is not (yet, or any more) running."""
    service: TradingService | None = getattr(request.app.state, "service", None)
    if service is None:
        raise HTTPException(503, "the trading system is not running")
    return service


async def get_service(request: Request) -> TradingService:
    return service_of(request)


Service = Annotated[TradingService, Depends(get_service)]


class KeyCache:
    """Keys that authenticated within the last `ttl_seconds`, held by the app so that most requests
    skip the worker-thread hop of TradingService.authenticate (whose own short cache spares the
    database). Revoking through the API clears it; a revocation by another process (the CLI) takes
    effect within this ttl plus that cache's."""

    def __init__(self, ttl_seconds: float = 1.0, max_entries: int = 10_000) -> None:
        self._ttl = ttl_seconds
        self._max_entries = max_entries
        self._entries: dict[str, tuple[float, ApiKeyRecord]] = {}

    def get(self, secret: str) -> ApiKeyRecord | None:
        entry = self._entries.get(hash_key(secret))
        if entry is None or time.monotonic() - entry[0] >= self._ttl:
            return None
        return entry[1]

    def put(self, secret: str, record: ApiKeyRecord) -> None:
        if len(self._entries) >= self._max_entries:
            self._entries.clear()
        self._entries[hash_key(secret)] = (time.monotonic(), record)

    def clear(self) -> None:
        self._entries.clear()


async def get_key_cache(request: Request) -> KeyCache:
    cache: KeyCache = request.app.state.key_cache
    return cache


KeyCacheDep = Annotated[KeyCache, Depends(get_key_cache)]


def bearer_secret(request: Request) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (scheme case-insensitive), as FastAPI's
    HTTPBearer reads it; None when the header is missing, empty or of another scheme."""
    authorization = request.headers.get("authorization")
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if not scheme or not token or scheme.lower() != "bearer":
        return None
    return token


async def authorize(request: Request, permission: Permission) -> ApiKeyRecord:
    """The request's API key if its role has `permission`. In this order: 503 when the system is not
    running, 401 when the key is missing, unknown or revoked, 403 when its role lacks the permission."""
    service = service_of(request)
    secret = bearer_secret(request)
    if secret is None:
        raise HTTPException(
            401, "an API key is required: Authorization: Bearer <key>", {"WWW-Authenticate": _CHALLENGE}
        )
    record = None
    if len(secret) <= MAX_SECRET_LENGTH:
        cache: KeyCache = request.app.state.key_cache
        record = cache.get(secret)
        if record is None:
            record = await service.authenticate(secret)
            if record is not None:
                cache.put(secret, record)
    if record is None:
        raise HTTPException(
            401,
            "the API key is unknown or revoked",
            {"WWW-Authenticate": f'{_CHALLENGE}, error="invalid_token"'},
        )
    try:
        allowed = allows(record.role, permission)
    except ValueError:
        allowed = False
    if not allowed:
        raise HTTPException(403, f"role '{record.role}' lacks the '{permission.value}' permission")
    return record


class ApiKeyAuth(SecurityBase):
    """Dependency: the request's API key, checked for `permission` (see `authorize`). One flat
    dependency instead of a tree (service, key cache, bearer credentials, role check), because FastAPI
    solves every node of the tree on every request; as a SecurityBase it is still documented as the
    ApiKey bearer scheme on each operation."""

    def __init__(self, permission: Permission) -> None:
        self.model = _SCHEME
        self.scheme_name = _SCHEME_NAME
        self.permission = permission

    async def __call__(self, request: Request) -> ApiKeyRecord:
        return await authorize(request, self.permission)


def require(permission: Permission) -> ApiKeyAuth:
    """A dependency answering the authenticated key if its role has `permission`: 401 without a valid
    key, 403 when the role lacks the permission."""
    return ApiKeyAuth(permission)


Viewer = Annotated[ApiKeyRecord, Depends(require(Permission.READ))]
Trader = Annotated[ApiKeyRecord, Depends(require(Permission.TRADE))]
RiskAdmin = Annotated[ApiKeyRecord, Depends(require(Permission.MANAGE_RISK))]
KeyAdmin = Annotated[ApiKeyRecord, Depends(require(Permission.MANAGE_KEYS))]
AuditReader = Annotated[ApiKeyRecord, Depends(require(Permission.READ_AUDIT))]


def actor(key: ApiKeyRecord) -> str:
    """How a key's changes are attributed in the audit log."""
    return f"key:{key.id}"


# Shared query parameters.
def _optional_symbol(value: str | None) -> str | None:
    return None if value is None else parse_symbol(value)


SymbolFilter = Annotated[
    str | None,
    Query(min_length=3, max_length=41, description="only this symbol, e.g. BTC/USDT", examples=["BTC/USDT"]),
    AfterValidator(_optional_symbol),
]
Cursor = Annotated[
    str | None,
    Query(
        pattern=IDENTIFIER_PATTERN,
        description="next_cursor of the previous page",
        examples=["O0195a1b2c3d4e5f6a7000001"],
    ),
]
Limit = Annotated[int, Query(ge=1, le=500, description="page size")]
