"""Route class that reads JSON bodies exactly (numbers as Decimal from their text, NaN/Infinity kept as
non-finite Decimals for the field validators to refuse by name) and bounds their size."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Any

from fastapi import HTTPException
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

MAX_BODY_BYTES = 1_048_576
# Longer integers are handed to validators as Decimal, which refuse them by magnitude; Python's int()
# would raise for over 4300 digits and turn the whole body into a parse error.
_MAX_INT_DIGITS = 40


def _parse_int(text: str) -> int | Decimal:
    return int(text) if len(text) <= _MAX_INT_DIGITS else Decimal(text)


def loads_exact(body: bytes | str) -> Any:
    """json.loads, except that every number keeps its exact decimal value."""
    try:
        return json.loads(body, parse_float=Decimal, parse_int=_parse_int, parse_constant=Decimal)
    except json.JSONDecodeError:
        raise
    except (ValueError, RecursionError) as error:
        # Invalid UTF-8 or absurd nesting: still "malformed JSON" to the client, not a server error.
        raise json.JSONDecodeError(f"unreadable JSON ({type(error).__name__})", "", 0) from None


def _too_large() -> HTTPException:
    return HTTPException(413, f"the request body exceeds {MAX_BODY_BYTES} bytes")


class ExactJSONRequest(Request):
    """Reads at most MAX_BODY_BYTES of body (413 beyond, as a problem like every error) and parses
    JSON exactly."""

    async def body(self) -> bytes:
        if not hasattr(self, "_body"):
            declared = self.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
                raise _too_large()
            chunks: list[bytes] = []
            size = 0
            async for chunk in self.stream():
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise _too_large()
                chunks.append(chunk)
            self._body = b"".join(chunks)
        return self._body

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads_exact(await self.body())
        return self._json


class ExactJSONRoute(APIRoute):
    """The route class of every router in this API."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def exact_json_handler(request: Request) -> Response:
            return await handler(ExactJSONRequest(request.scope, request.receive))

        return exact_json_handler
