"""Route classes: every route reads JSON bodies exactly (numbers as Decimal from their text, NaN/Infinity
kept as non-finite Decimals for the field validators to refuse by name) and bounds their size; a
DirectRoute answers with a hand-written handler (hot paths) while FastAPI documents it, and DirectLane
hands it its requests past the router."""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable, Coroutine, Sequence
from decimal import Decimal
from typing import Any

import msgspec
from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic_core import PydanticUndefined
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

MAX_BODY_BYTES = 1_048_576
# Longer integers are handed to validators as Decimal, which refuse them by magnitude; Python's int()
# would raise for over 4300 digits and turn the whole body into a parse error.
_MAX_INT_DIGITS = 40


def _parse_int(text: str) -> int | Decimal:
    return int(text) if len(text) <= _MAX_INT_DIGITS else Decimal(text)


# msgspec hands float_hook the literal's text, so it reads the same exact Decimals, ~15x faster than
# json.loads with Python hooks. It yields int for integers of any length, hence the scan for those
# that must become Decimal; whatever it refuses (NaN, lone surrogates, bad UTF-8, deep nesting, plain
# syntax errors) is left to json.loads, which decides the result or the error message.
_decode_exact = msgspec.json.Decoder(float_hook=Decimal).decode
_LONG_INTEGER = re.compile(rb"\d{%d}" % (_MAX_INT_DIGITS + 1))


def loads_exact(body: bytes | str) -> Any:
    """json.loads, except that every number keeps its exact decimal value."""
    if isinstance(body, bytes) and _LONG_INTEGER.search(body) is None:
        try:
            return _decode_exact(body)
        except Exception:  # the standard parser below gives the answer or the error
            pass
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


# FastAPI's marker for "no body at all", which the body field reports as missing.
NO_BODY: Any = PydanticUndefined


def _is_json_media(content_type: str) -> bool:
    """Whether FastAPI would parse a body of this Content-Type as JSON (application/json or
    application/*+json, parameters ignored, case-insensitive)."""
    if content_type == "application/json":
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    if media.count("/") != 1:
        return False
    main, sub = media.split("/")
    return main == "application" and (sub == "json" or sub.endswith("+json"))


async def read_json_body(request: ExactJSONRequest) -> Any:
    """The body as FastAPI's request handler reads it for a JSON body parameter: NO_BODY when empty,
    the parsed JSON when the Content-Type is JSON, else the raw bytes (which the body's validation
    refuses, and the error handler answers 415). Malformed JSON is a 422 naming the body; too large a
    body is a 413; any other failure to read it a 400."""
    try:
        raw = await request.body()
        if not raw:
            return NO_BODY
        content_type = request.headers.get("content-type")
        if content_type and _is_json_media(content_type):
            return await request.json()
        return raw
    except json.JSONDecodeError as error:
        raise RequestValidationError(
            [
                {
                    "type": "json_invalid",
                    "loc": ("body", error.pos),
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": error.msg},
                }
            ],
            body=error.doc,
        ) from error
    except HTTPException:
        raise
    except Exception as error:
        raise HTTPException(400, "There was an error parsing the body") from error


def missing_body_error() -> dict[str, Any]:
    return {"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}


DirectHandler = Callable[[ExactJSONRequest], Coroutine[Any, Any, Response]]


class DirectRoute(ExactJSONRoute):
    """A route answered by `direct_handler()` instead of FastAPI's generic request handler, which
    solves the endpoint's dependency tree and re-validates the response against its model on every
    request. The declared endpoint still defines the operation (OpenAPI parameters, body, responses)
    and must be kept in step with the handler: subclasses check its signature when built."""

    def direct_handler(self) -> DirectHandler:
        raise NotImplementedError

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = self.direct_handler()

        async def direct(request: Request) -> Response:
            return await handler(ExactJSONRequest(request.scope, request.receive))

        return direct


class DirectLane:
    """Innermost middleware: hands each request for a DirectRoute straight to its handler, past
    Starlette's exception middleware, FastAPI's exit-stack middleware and router, and the route's own
    wrappers. Together they cost about as much as the order handler's own work (~25 us a request
    on this project's machine), for nothing these routes use. What they would do is done here: the matched
    route goes into the scope (the metrics read its path template), and an exception is answered by
    the app's handler for it as the exception middleware would (ours are all coroutines, so none is
    sent to a worker thread), while one without a handler goes on
    up to ServerErrorMiddleware (the 500 problem) as before. Only the exact method and path take the
    lane, and not behind a root_path; everything else follows the usual stack."""

    def __init__(self, app: ASGIApp, routes: Sequence[DirectRoute]) -> None:
        self.app = app
        self._lanes: dict[tuple[str, str], tuple[DirectRoute, DirectHandler]] = {}
        for route in routes:
            if route.param_convertors:
                raise TypeError(f"DirectLane serves fixed paths only, not {route.path}")
            handler = route.direct_handler()
            for method in route.methods or ():
                self._lanes[(method, route.path)] = (route, handler)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            lane = self._lanes.get((scope["method"], scope["path"]))
            if lane is not None:
                await self._serve(lane, scope, receive, send)
                return
        await self.app(scope, receive, send)

    @staticmethod
    async def _serve(
        lane: tuple[DirectRoute, DirectHandler], scope: Scope, receive: Receive, send: Send
    ) -> None:
        route, handler = lane
        scope["route"] = route
        scope["endpoint"] = route.endpoint
        scope["path_params"] = {}
        request = ExactJSONRequest(scope, receive)
        try:
            response = await handler(request)
        except Exception as error:
            answer = _exception_handler(scope["app"].exception_handlers, error)
            if answer is None:
                raise
            outcome = answer(request, error)
            response = await outcome if inspect.isawaitable(outcome) else outcome
        await response(scope, receive, send)


def _exception_handler(
    handlers: dict[Any, Callable[..., Any]], error: Exception
) -> Callable[..., Any] | None:
    """The handler Starlette's ExceptionMiddleware would pick: by status for an HTTPException, else by
    the nearest class. Those for 500 and Exception belong to ServerErrorMiddleware, further out."""
    if isinstance(error, StarletteHTTPException) and error.status_code != 500:
        handler = handlers.get(error.status_code)
        if handler is not None:
            return handler
    for cls in type(error).__mro__:
        if cls is Exception:
            return None
        handler = handlers.get(cls)
        if handler is not None:
            return handler
    return None
