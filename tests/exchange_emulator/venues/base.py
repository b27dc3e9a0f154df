"""What every emulated venue provides to the server: hosts, routes, signature checks and error bodies."""

from __future__ import annotations

import abc
import json
import random
import string
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import parse_qsl

from ..market import Instrument
from ..orders import Rejected, VenueRules
from ..state import VenueState


@dataclass(frozen=True)
class Credentials:
    """One API key of an emulated account. `password` is OKX's passphrase."""

    api_key: str
    secret: str
    password: str | None = None

    def ccxt_config(self) -> dict[str, str]:
        config = {"apiKey": self.api_key, "secret": self.secret}
        if self.password is not None:
            config["password"] = self.password
        return config


@dataclass(frozen=True)
class ApiRequest:
    method: str
    host: str
    path: str
    raw_query: str  # exactly as sent (signatures cover the raw bytes)
    body: str
    headers: Mapping[str, str]
    received_ms: int

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(self.raw_query, keep_blank_values=True))

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body, keep_blank_values=True))

    def json(self) -> Any:
        return json.loads(self.body) if self.body else {}

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)


@dataclass(frozen=True)
class ApiResponse:
    status: int
    body: Any  # JSON-serialisable, or str for a text body
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> tuple[bytes, str]:
        if isinstance(self.body, str):
            return self.body.encode(), "text/html" if self.body.lstrip().startswith("<") else "text/plain"
        return json.dumps(self.body, separators=(",", ":")).encode(), "application/json"


Handler = Callable[[ApiRequest], Awaitable[ApiResponse]]


@dataclass(frozen=True)
class Route:
    handler: Handler
    private: bool


class ErrorResponse(Exception):
    """Raised anywhere in a handler to answer with the venue's error body (bad parameter, unknown symbol)."""

    def __init__(self, response: ApiResponse) -> None:
        super().__init__(str(response.body))
        self.response = response


class AuthFailure(Exception):
    """A signed request failed verification; carries the venue's own error response."""

    def __init__(self, response: ApiResponse, reason: str) -> None:
        super().__init__(reason)
        self.response = response
        self.reason = reason


class Venue(abc.ABC):
    """One emulated exchange environment (e.g. binance live): its state, its credentials, its wire format."""

    name: ClassVar[str]
    hosts: ClassVar[Mapping[str, str]]  # hostname -> environment ("live", "sandbox", "demo")
    environments: ClassVar[tuple[str, ...]] = ("live",)

    def __init__(self, state: VenueState, credentials: Credentials, environment: str) -> None:
        self.state = state
        self.credentials = credentials
        self.environment = environment
        self.routes: dict[tuple[str, str], Route] = {}
        self.register_routes()

    def add(self, method: str, path: str, handler: Handler, *, private: bool) -> None:
        self.routes[(method.upper(), path)] = Route(handler, private)

    def route(self, method: str, path: str) -> Route | None:
        return self.routes.get((method.upper(), path))

    def is_private_path(self, method: str, path: str) -> bool:
        route = self.route(method, path)
        return route.private if route else False

    @classmethod
    @abc.abstractmethod
    def instruments(cls) -> dict[str, Instrument]:
        """The markets this venue lists, keyed by unified symbol."""

    @classmethod
    @abc.abstractmethod
    def rules(cls) -> VenueRules: ...

    @classmethod
    @abc.abstractmethod
    def make_credentials(cls, seed: str) -> Credentials: ...

    @abc.abstractmethod
    def register_routes(self) -> None: ...

    @abc.abstractmethod
    def verify(self, request: ApiRequest) -> None:
        """Check the venue's signing scheme; raise AuthFailure with the venue's answer when it fails."""

    @abc.abstractmethod
    def rejection(self, request: ApiRequest, error: Rejected) -> ApiResponse:
        """The venue's answer to a request the books refused."""

    @abc.abstractmethod
    def not_found(self, request: ApiRequest) -> ApiResponse: ...

    @abc.abstractmethod
    def rate_limited(self, status: int, retry_after_s: int) -> ApiResponse: ...

    def server_error(self, status: int) -> ApiResponse:
        """What a venue's edge (CDN, gateway) answers on a 5xx: an HTML page, not JSON."""
        reason = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
        text = reason.get(status, "Gateway Timeout" if status == 504 else "Error")
        return ApiResponse(
            status, f"<html><head><title>{status} {text}</title></head><body>{text}</body></html>"
        )


def fmt(value: Decimal | None, places: int | None = None) -> str:
    """A decimal as the venues print it: fixed point, no exponent; `places` pads like Binance's 8 dp."""
    if value is None:
        return "0" if places is None else f"{Decimal(0):.{places}f}"
    if places is not None:
        return f"{value:.{places}f}"
    text = f"{value.normalize():f}"
    return text


def random_credentials(seed: str, *, secret_alphabet: str, secret_len: int, key_len: int = 32) -> Credentials:
    """Deterministic throwaway credentials (a seeded generator; never a real key)."""
    rng = random.Random(seed)
    alnum = string.ascii_letters + string.digits
    key = "".join(rng.choice(alnum) for _ in range(key_len))
    secret = "".join(rng.choice(secret_alphabet) for _ in range(secret_len))
    return Credentials(api_key=key, secret=secret)
