"""Every error as application/problem+json (RFC 9457), and the mapping of domain errors to statuses."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from tradeforge.domain.errors import (
    InsufficientBalance,
    InvalidTransition,
    OrderNotAmendable,
    OrderNotFound,
    TradeForgeError,
    ValidationError,
)
from tradeforge.engine.order_manager import ClientOrderIdConflict
from tradeforge.runtime.service import (
    IdempotencyKeyReused,
    NotDurable,
    StrategyExists,
    StrategyNotFound,
    VenueNotReconciled,
)

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:tradeforge:problem:"
NOT_DURABLE_DETAIL = (
    "the change could not be stored, so it was not acknowledged; retry with the same client_order_id "
    "or Idempotency-Key"
)


class FieldError(BaseModel):
    field: str = Field(description="dotted path of the offending input, e.g. body.quantity or query.limit")
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field("about:blank", description="URI identifying the kind of problem")
    title: str = Field(description="short summary of the kind of problem")
    status: int = Field(description="the HTTP status code")
    detail: str | None = Field(None, description="what went wrong with this request")
    instance: str | None = Field(None, description="the request path")
    errors: list[FieldError] | None = Field(None, description="each invalid input (validation problems)")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "type": "urn:tradeforge:problem:validation",
                    "title": "Unprocessable Content",
                    "status": 422,
                    "detail": "body.quantity: must be greater than zero",
                    "instance": "/api/v1/orders",
                    "errors": [{"field": "body.quantity", "message": "must be greater than zero"}],
                }
            ]
        }
    }


def problem(
    status: int,
    detail: str | None,
    *,
    kind: str | None = None,
    instance: str | None = None,
    errors: Sequence[Mapping[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_PREFIX + kind if kind else "about:blank",
        "title": _title(status),
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    if errors is not None:
        body["errors"] = list(errors)
    return Response(
        json.dumps(body, separators=(",", ":")), status_code=status, media_type=PROBLEM_JSON, headers=headers
    )


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


# Domain errors, most specific first: (class, status, problem kind).
DOMAIN_ERRORS: tuple[tuple[type[TradeForgeError], int, str], ...] = (
    (IdempotencyKeyReused, 422, "idempotency-key-reused"),
    (ValidationError, 422, "validation"),
    (OrderNotFound, 404, "order-not-found"),
    (OrderNotAmendable, 409, "order-not-amendable"),
    (ClientOrderIdConflict, 409, "client-order-id-conflict"),
    (InvalidTransition, 409, "invalid-transition"),
    (StrategyNotFound, 404, "strategy-not-found"),
    (VenueNotReconciled, 404, "venue-not-reconciled"),
    (StrategyExists, 409, "strategy-exists"),
    (InsufficientBalance, 422, "insufficient-balance"),
    (NotDurable, 503, "not-durable"),
)


def _loc_path(loc: Sequence[Any]) -> str:
    return ".".join(str(part) for part in loc)


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


async def request_validation_handler(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    items = error.errors()
    instance = request.url.path
    # FastAPI hands a body that is not JSON to the model as raw bytes; that is a content type problem.
    if any(isinstance(item.get("input"), bytes | bytearray) for item in items) and not _is_json(
        request.headers.get("content-type")
    ):
        message = "must be application/json"
        return problem(
            415,
            f"header.content-type: {message}",
            kind="unsupported-media-type",
            instance=instance,
            errors=[{"field": "header.content-type", "message": message}],
        )
    errors = []
    for item in items:
        loc = tuple(item.get("loc", ()))
        if item.get("type") == "json_invalid":
            position = loc[1] if len(loc) > 1 else 0
            reason = (item.get("ctx") or {}).get("error", "malformed")
            errors.append({"field": "body", "message": f"malformed JSON: {reason} (at character {position})"})
            continue
        message = str(item.get("msg", "invalid"))
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        errors.append({"field": _loc_path(loc), "message": message})
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return problem(422, detail, kind="validation", instance=instance, errors=errors)


async def domain_error_handler(request: Request, error: Exception) -> Response:
    assert isinstance(error, TradeForgeError)
    instance = request.url.path
    for cls, status, kind in DOMAIN_ERRORS:
        if isinstance(error, cls):
            if isinstance(error, ValidationError):
                return problem(
                    status,
                    str(error),
                    kind=kind,
                    instance=instance,
                    errors=[{"field": error.field, "message": error.message}],
                )
            detail = str(error)
            if status >= 500:
                # The cause (a database error) is for the log, not for clients.
                logger.error("request %s %s failed: %s", request.method, instance, error)
                detail = NOT_DURABLE_DETAIL
            return problem(status, detail, kind=kind, instance=instance)
    # A deliberate error we have no mapping for: still the client's request that could not be done.
    logger.warning("unmapped domain error %s on %s %s", type(error).__name__, request.method, instance)
    return problem(400, str(error), kind="domain-error", instance=instance)


async def http_exception_handler(request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    detail = error.detail if isinstance(error.detail, str) else json.dumps(error.detail, default=str)
    return problem(error.status_code, detail, instance=request.url.path, headers=error.headers)


async def unexpected_error_handler(request: Request, error: Exception) -> Response:
    logger.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=error)
    return problem(
        500, "an unexpected error occurred; it has been logged", kind="internal", instance=request.url.path
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, request_validation_handler)
    app.add_exception_handler(TradeForgeError, domain_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_exception_handler)
    app.add_exception_handler(Exception, unexpected_error_handler)


_DESCRIPTIONS = {
    400: "Bad request",
    401: "Missing, unknown or revoked API key (see the WWW-Authenticate header)",
    403: "The key's role lacks the permission this operation needs",
    404: "Not found",
    409: "Conflict with the current state (e.g. the order is already final, or client_order_id is taken)",
    415: "The body is not application/json",
    422: "Invalid input; `errors` names each offending field",
    503: "The change could not be stored, or the service is not ready; nothing was changed",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI documentation of error responses: each a problem+json document."""
    return {
        status: {
            "description": _DESCRIPTIONS.get(status, _title(status)),
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }
