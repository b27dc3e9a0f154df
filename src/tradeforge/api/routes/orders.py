"""Orders: submit (idempotent), list, read, amend, cancel and cancel all."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Body, Header, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError

from tradeforge.api.deps import (
    ApiKeyAuth,
    Cursor,
    Limit,
    Service,
    SymbolFilter,
    Trader,
    Viewer,
    authorize,
    get_service,
    service_of,
)
from tradeforge.api.errors import problem_responses
from tradeforge.api.routing import (
    NO_BODY,
    DirectHandler,
    DirectRoute,
    ExactJSONRequest,
    ExactJSONRoute,
    missing_body_error,
    read_json_body,
)
from tradeforge.api.schemas import (
    IDENTIFIER_PATTERN,
    AmendRequest,
    OrderList,
    OrderOut,
    OrderPage,
    OrderRequest,
)
from tradeforge.domain.orders import OrderStatus
from tradeforge.ports.persistence import ApiKeyRecord, OrderQuery
from tradeforge.runtime.service import Reply, TradingService
from tradeforge.security.rbac import Permission

router = APIRouter(prefix="/api/v1/orders", tags=["orders"], route_class=ExactJSONRoute)

OrderId = Annotated[
    str,
    Path(pattern=IDENTIFIER_PATTERN, description="the order's id", examples=["O0195a1b2c3d4e5f6a7000001"]),
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Makes a retry safe: the first response is stored and replayed for every request with "
        "this key; the same key with a different body is refused (422).",
    ),
]

ORDER_EXAMPLES: dict[str, Any] = {
    "market": {
        "summary": "Market buy",
        "value": {"symbol": "BTC/USDT", "side": "buy", "type": "market", "quantity": "0.001"},
    },
    "limit": {
        "summary": "Limit sell, good till cancelled, with your own id",
        "value": {
            "symbol": "BTC/USDT",
            "side": "sell",
            "type": "limit",
            "quantity": "0.25",
            "price": "90000",
            "time_in_force": "GTC",
            "client_order_id": "my-order-0001",
            "strategy_id": "manual",
        },
    },
    "stop_limit_gtd": {
        "summary": "Stop-limit, good till date",
        "value": {
            "symbol": "ETH/USDT",
            "side": "sell",
            "type": "stop_limit",
            "quantity": "1.5",
            "price": "1990",
            "stop_price": "2000",
            "time_in_force": "GTD",
            "expire_at": "2030-01-01T00:00:00Z",
        },
    },
}
_TRADE_ERRORS = problem_responses(401, 403, 404, 409, 422, 503)


def fingerprint(method: str, path: str, body: OrderRequest) -> str:
    """sha256 of method, path and the canonical JSON of the validated body (key order, number
    spelling and symbol case do not matter; a generated client_order_id is not part of it)."""
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


async def _submit(
    key: ApiKeyRecord,
    service: TradingService,
    request: Request,
    order: OrderRequest,
    idempotency_key: str | None,
) -> Reply:
    digest = "" if idempotency_key is None else fingerprint(request.method, request.url.path, order)
    return await service.submit_order(order.to_command(key.account_id), idempotency_key, digest)


async def submit_order(
    key: Trader,
    service: Service,
    request: Request,
    response: Response,
    order: Annotated[OrderRequest, Body(openapi_examples=ORDER_EXAMPLES)],
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """The operation as FastAPI declares (and documents) it; SubmitOrderRoute serves it."""
    reply = await _submit(key, service, request, order, idempotency_key)
    response.status_code = reply.status_code
    return reply.body


_ORDER_FIELDS = frozenset(OrderOut.model_fields)
_encode = msgspec.json.Encoder().encode


def order_response(body: dict[str, Any], status_code: int) -> Response:
    """An order as JSON. The service's order dicts are already the response model's exact JSON form
    (strings for decimals and times), so they are encoded directly; anything else (an idempotent
    replay stored by an older version) goes through the model as FastAPI would send it."""
    if body.keys() != _ORDER_FIELDS:
        body = OrderOut.model_validate(body).model_dump(mode="json")
    return Response(_encode(body), status_code, media_type="application/json")


class SubmitOrderRoute(DirectRoute):
    """POST /api/v1/orders, the hot path. The endpoint's parameters are resolved by hand, in FastAPI's
    order and with the route's own validators (so errors are the same problems): body read and
    parsed, then the key (503, 401, 403), then the Idempotency-Key header and the body validated
    together (422). FastAPI's dependency solving alone took nearly as long as the engine's work on
    the order (23 % against 30 % of the event loop, profiled at saturation)."""

    def direct_handler(self) -> DirectHandler:
        dependant = self.dependant
        calls = [dependency.call for dependency in dependant.dependencies]
        header_fields = dependant.header_params
        body_field = self.body_field
        if (
            len(calls) != 2
            or not (isinstance(calls[0], ApiKeyAuth) and calls[0].permission is Permission.TRADE)
            or calls[1] is not get_service
            or [field.name for field in header_fields] != ["idempotency_key"]
            or dependant.path_params
            or dependant.query_params
            or dependant.cookie_params
            or body_field is None
            or [field.name for field in dependant.body_params] != ["order"]
        ):
            raise TypeError(f"SubmitOrderRoute cannot serve {self.endpoint.__name__}: its parameters changed")
        header_field = header_fields[0]
        header_loc = ("header", header_field.alias)
        header_name = header_field.alias.lower()
        body_loc = ("body",)

        async def handle(request: ExactJSONRequest) -> Response:
            body = await read_json_body(request)
            key = await authorize(request, Permission.TRADE)
            service = service_of(request)
            errors: list[Any] = []
            idempotency_key = request.headers.get(header_name)
            if idempotency_key is not None:
                idempotency_key, header_errors = header_field.validate(idempotency_key, {}, loc=header_loc)
                errors.extend(header_errors)
            order: OrderRequest | None = None
            if body is NO_BODY:
                errors.append(missing_body_error())
            else:
                order, body_errors = body_field.validate(body, {}, loc=body_loc)
                errors.extend(body_errors)
            if errors:
                raise RequestValidationError(errors, body=None if body is NO_BODY else body)
            assert order is not None
            reply = await _submit(key, service, request, order, idempotency_key)
            return order_response(reply.body, reply.status_code)

        return handle


router.add_api_route(
    "",
    submit_order,
    methods=["POST"],
    status_code=201,
    response_model=OrderOut,
    summary="Submit an order",
    description="Creates an order and answers once it is stored. A risk rejection is not an error: the "
    "order is answered (and kept) in status `rejected` with its `reject_reason`. Resending a "
    "`client_order_id` with the same parameters answers the existing order (200) instead of creating "
    "another; with different parameters it is a conflict (409).",
    responses={
        200: {
            "model": OrderOut,
            "description": "The order this client_order_id already identifies, or a replay",
        },
        **problem_responses(401, 403, 409, 415, 422, 503),
    },
    route_class_override=SubmitOrderRoute,
)


@router.get(
    "",
    response_model=OrderPage,
    summary="List orders",
    description="Newest first. Pass `next_cursor` back as `cursor` for the next page.",
    responses=problem_responses(401, 403, 422),
)
async def list_orders(
    key: Viewer,
    service: Service,
    status: Annotated[
        list[OrderStatus] | None, Query(description="only these statuses (repeat the parameter for several)")
    ] = None,
    symbol: SymbolFilter = None,
    strategy_id: Annotated[str | None, Query(pattern=IDENTIFIER_PATTERN)] = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Any:
    query = OrderQuery(
        account_id=key.account_id,
        statuses=frozenset(status) if status else None,
        symbol=symbol,
        strategy_id=strategy_id,
        cursor=cursor,
        limit=limit,
    )
    page = await service.list_orders(query)
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get(
    "/{order_id}",
    response_model=OrderOut,
    summary="Get an order",
    description="An order of the key's account, working or final (a rejected one keeps its reason).",
    responses=problem_responses(401, 403, 404, 422),
)
async def get_order(key: Viewer, service: Service, order_id: OrderId) -> Any:
    return await service.get_order(key.account_id, order_id)


@router.patch(
    "/{order_id}",
    response_model=OrderOut,
    summary="Amend an order",
    description="Changes the quantity and/or the limit price of a working order. The amendment passes the "
    "risk checks again; a refused one leaves the order unchanged (409).",
    responses=problem_responses(401, 403, 404, 409, 415, 422, 503),
)
async def amend_order(key: Trader, service: Service, order_id: OrderId, change: AmendRequest) -> Any:
    return await service.amend_order(key.account_id, order_id, change.quantity, change.price)


@router.delete(
    "/{order_id}",
    response_model=OrderOut,
    summary="Cancel an order",
    description="Cancels a working order and answers it in its new status; a final one is a conflict (409).",
    responses=_TRADE_ERRORS,
)
async def cancel_order(key: Trader, service: Service, order_id: OrderId) -> Any:
    return await service.cancel_order(key.account_id, order_id)


@router.delete(
    "",
    response_model=OrderList,
    summary="Cancel all working orders",
    description="Cancels every working order of the account, or only those of `symbol`; answers the "
    "orders it cancelled.",
    responses=problem_responses(401, 403, 422, 503),
)
async def cancel_all_orders(key: Trader, service: Service, symbol: SymbolFilter = None) -> Any:
    return {"items": await service.cancel_all(key.account_id, symbol)}
