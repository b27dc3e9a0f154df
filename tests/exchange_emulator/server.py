"""The emulator: one HTTPS server on 127.0.0.1 that answers as binance, bybit, okx and kraken by Host header.

    async with Emulator() as emulator:
        binance = emulator.venue("binance")
        async with emulated_exchange(emulator, "binance") as exchange:   # see transport.py
            await exchange.create_order("BTC/USDT", "limit", "buy", 0.01, 80000, {"clientOrderId": "c1"})
        binance.set_price("BTC/USDT", Decimal("79990"))                    # the resting order fills

Per request: resolve the venue from the Host header (and OKX's x-simulated-trading header), let the fault
plan decide, verify the signature of private routes, apply the request to the venue's books, answer with the
venue's payload, count everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from .faults import Fault, FaultKind, FaultPlan
from .market import SAMPLE_BARS, MarketData
from .orders import Fill, Order, Rejected, Status
from .state import VenueState
from .tls import TestCertificates
from .venues import VENUE_CLASSES
from .venues.base import ApiRequest, ApiResponse, AuthFailure, Credentials, ErrorResponse, Venue

DEFAULT_BALANCES: Mapping[str, Decimal] = {
    "USDT": Decimal("100000"),
    "BTC": Decimal("2"),
    "ETH": Decimal("20"),
}


@dataclass(frozen=True)
class EmulatorConfig:
    """venues: which exchanges to emulate. balances: every account's starting balances (unified codes).
    bar_files: 1-minute parquet per unified symbol; the default is the 7-day sample in data/samples (point
    it at /work/shared/data/binance_spot_1m for the full year). cursor_ms: market "now" (default: last bar).
    latency_s: added to every response. environments: "live" always; "sandbox"/"demo" where the venue has one.
    """

    venues: tuple[str, ...] = ("binance", "bybit", "okx", "kraken")
    balances: Mapping[str, Decimal] = field(default_factory=lambda: dict(DEFAULT_BALANCES))
    bar_files: Mapping[str, Path] = field(default_factory=lambda: dict(SAMPLE_BARS))
    cursor_ms: int | None = None
    latency_s: float = 0.0
    environments: tuple[str, ...] = ("live", "sandbox")


@dataclass
class AuthStats:
    """Signed requests per venue. `unverified_accepted` must stay 0: a private route ran unverified."""

    verified: int = 0
    rejected: int = 0
    unverified_accepted: int = 0
    reasons: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class RequestRecord:
    venue: str
    environment: str
    method: str
    path: str
    query: str
    private: bool
    status: int | None  # None: no response was sent (dropped, or held past the client)
    fault: FaultKind | None
    applied: bool
    handled_s: float  # time in the emulator until the answer was sent (a held TIMEOUT: until it was logged)


class EmulatedVenue:
    """The test's handle on one venue environment: its books, its credentials, out-of-band events."""

    def __init__(self, venue: Venue, faults: FaultPlan) -> None:
        self._venue = venue
        self._faults = faults
        self.stats = AuthStats()

    @property
    def name(self) -> str:
        return self._venue.name

    @property
    def environment(self) -> str:
        return self._venue.environment

    @property
    def state(self) -> VenueState:
        return self._venue.state

    @property
    def credentials(self) -> Credentials:
        return self._venue.credentials

    @property
    def api(self) -> Venue:
        return self._venue

    def set_price(self, symbol: str, price: Decimal | str) -> list[Fill]:
        """Move the last price; triggered stops and crossed resting limits fill (as the market would)."""
        return self.state.set_price(symbol, Decimal(price))

    def move_market_to(self, cursor_ms: int) -> list[Fill]:
        """Move market time: prices become the closes of the bars at cursor_ms, and orders react."""
        return self.state.move_market_to(cursor_ms)

    def fill(self, order_id: str, quantity: Decimal | str | None = None) -> Fill:
        """Fill a resting order out of band (all of it, or `quantity`); counted as a fault."""
        order = self.state.orders[order_id]
        fill = self.state.fill(order_id, None if quantity is None else Decimal(quantity))
        partial = order.status is Status.PARTIALLY_FILLED
        self._faults.record(self.key, FaultKind.OOB_PARTIAL_FILL if partial else FaultKind.OOB_FILL)
        return fill

    def cancel(self, order_id: str) -> Order:
        """The venue cancels an open order on its own; counted as a fault."""
        order = self.state.cancel_out_of_band(order_id)
        self._faults.record(self.key, FaultKind.OOB_CANCEL)
        return order

    def order(self, order_id: str | None = None, client_order_id: str | None = None) -> Order | None:
        return self.state.find(order_id, client_order_id)

    @property
    def key(self) -> str:
        return self.name if self.environment == "live" else f"{self.name}:{self.environment}"


class Emulator:
    """Starts and stops the server; owns venues, faults, the TLS material and the request log."""

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.faults = FaultPlan()
        self.requests: list[RequestRecord] = []
        self._venues: dict[tuple[str, str], EmulatedVenue] = {}
        self._hosts: dict[str, tuple[str, str]] = {}
        for name in self.config.venues:
            cls = VENUE_CLASSES[name]
            environments = [
                env for env in cls.environments if env == "live" or env in self.config.environments
            ]
            for env in environments:
                self._venues[(name, env)] = EmulatedVenue(self._build(cls, env), self.faults)
            self._hosts.update({host: (name, env) for host, env in cls.hosts.items() if env in environments})
        self.certificates = TestCertificates.issue(self._hosts)
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._stopping = asyncio.Event()
        self._held: set[asyncio.Task[Any]] = set()

    def _build(self, cls: type[Venue], env: str) -> Venue:
        market = MarketData(cls.instruments(), dict(self.config.bar_files), cursor_ms=self.config.cursor_ms)
        state = VenueState(f"{cls.name}:{env}", market, cls.rules(), dict(self.config.balances))
        return cls(state, cls.make_credentials(f"{cls.name}:{env}"), env)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        site = web.SockSite(self._runner, sock, ssl_context=self.certificates.server_context())
        await site.start()

    async def stop(self) -> None:
        self._stopping.set()
        if self._held:
            await asyncio.gather(*self._held, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # ------------------------------------------------------------------ the test's API
    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the emulator is not started")
        return self._port

    @property
    def hostnames(self) -> tuple[str, ...]:
        return tuple(sorted(self._hosts))

    def venue(self, name: str, environment: str = "live") -> EmulatedVenue:
        return self._venues[(name, environment)]

    def venues(self) -> list[EmulatedVenue]:
        return list(self._venues.values())

    def requests_for(self, venue: str, environment: str = "live") -> list[RequestRecord]:
        return [r for r in self.requests if r.venue == venue and r.environment == environment]

    # ------------------------------------------------------------------ serving
    def _resolve(self, request: web.Request) -> EmulatedVenue | None:
        host = (request.host or "").split(":")[0].lower()
        name_env = self._hosts.get(host)
        if name_env is None:
            return None
        name, env = name_env
        if name == "okx" and request.headers.get("x-simulated-trading") == "1":
            env = "sandbox"  # OKX demo trading: same host, a header selects the demo environment
        return self._venues.get((name, env))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        handle = self._resolve(request)
        if handle is None:
            return web.Response(status=421, text=f"no emulated venue for host {request.host}")
        venue = handle.api
        body = await request.text()
        api_request = ApiRequest(
            method=request.method,
            host=request.host,
            path=request.path,
            raw_query=request.rel_url.raw_query_string,
            body=body,
            headers=dict(request.headers),
            received_ms=handle.state.now(),
        )
        route = venue.route(request.method, request.path)
        private = route.private if route else False
        self._out_of_band(handle)
        fault = self.faults.request_fault(handle.key, request.method, request.path, private)
        if fault is not None:
            self.faults.record(handle.key, fault.kind)
        response: ApiResponse | None = None
        applied = False
        if fault is None or fault.applied or fault.kind is FaultKind.DELAY:
            response = await self._process(handle, api_request)
            applied = True
        if fault is not None and fault.kind in (FaultKind.TIMEOUT, FaultKind.DROP):
            self._log(handle, api_request, private, None, fault, applied, started)  # no answer will follow
            if fault.kind is FaultKind.TIMEOUT:
                await self._hold(fault.hold_s)
            return _dropped(request)
        if fault is not None and fault.kind is FaultKind.DELAY:
            await self._hold(fault.hold_s)
        if self.config.latency_s:
            await asyncio.sleep(self.config.latency_s)
        if fault is not None and fault.kind in (FaultKind.SERVER_ERROR, FaultKind.RATE_LIMIT):
            response = self._fault_response(venue, fault)
        assert response is not None
        self._log(handle, api_request, private, response.status, fault, applied, started)
        payload, content_type = response.encode()
        return web.Response(
            status=response.status, body=payload, content_type=content_type, headers=response.headers
        )

    async def _process(self, handle: EmulatedVenue, request: ApiRequest) -> ApiResponse:
        venue = handle.api
        route = venue.route(request.method, request.path)
        if route is None:
            return venue.not_found(request)
        verified = False
        if route.private:
            try:
                venue.verify(request)
            except AuthFailure as failure:
                handle.stats.rejected += 1
                handle.stats.reasons[failure.reason] += 1
                return failure.response
            handle.stats.verified += 1
            verified = True
        if route.private and not verified:
            handle.stats.unverified_accepted += 1
        try:
            return await route.handler(request)
        except Rejected as error:
            return venue.rejection(request, error)
        except ErrorResponse as error:
            return error.response

    async def _hold(self, seconds: float) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._held.add(task)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        finally:
            if task is not None:
                self._held.discard(task)

    def _fault_response(self, venue: Venue, fault: Fault) -> ApiResponse:
        if fault.kind is FaultKind.RATE_LIMIT:
            response = venue.rate_limited(fault.http_status, fault.retry_after_s)
            return ApiResponse(
                response.status, response.body, {**response.headers, "Retry-After": str(fault.retry_after_s)}
            )
        return venue.server_error(fault.http_status)

    def _out_of_band(self, handle: EmulatedVenue) -> None:
        state = handle.state
        resting = [
            o.order_id
            for o in sorted(state.open_orders(), key=lambda o: o.seq)
            if o.status in (Status.NEW, Status.PARTIALLY_FILLED) and o.price is not None
        ]
        event = self.faults.out_of_band(handle.key, resting)
        if event is None:
            return
        kind, order_id = event
        order = state.orders[order_id]
        if kind is FaultKind.OOB_CANCEL:
            handle.cancel(order_id)
        elif kind is FaultKind.OOB_FILL:
            handle.fill(order_id)
        else:
            instrument = state.instruments[order.symbol]
            share = Decimal(str(self.faults.partial_fill_share))
            qty = instrument.round_qty(order.remaining * share)
            if 0 < qty < order.remaining:
                handle.fill(order_id, qty)

    def _log(
        self,
        handle: EmulatedVenue,
        request: ApiRequest,
        private: bool,
        status: int | None,
        fault: Fault | None,
        applied: bool,
        started: float,
    ) -> None:
        self.requests.append(
            RequestRecord(
                handle.name,
                handle.environment,
                request.method,
                request.path,
                request.raw_query,
                private,
                status,
                fault.kind if fault else None,
                applied,
                time.perf_counter() - started,
            )
        )


def _dropped(request: web.Request) -> web.StreamResponse:
    """Close the TCP connection without writing a response (the client sees a server disconnect)."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    raise asyncio.CancelledError  # aiohttp treats a cancelled handler as "nothing to send"
