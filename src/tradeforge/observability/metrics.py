"""Prometheus metrics of one running service: HTTP traffic, order events, fills, trading state, replay."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from tradeforge.bus import topics
from tradeforge.domain.fills import Fill
from tradeforge.engine.order_manager import EVENT_KINDS
from tradeforge.engine.risk_rules import TradingState
from tradeforge.observability.venue_metrics import VenueCollector

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from tradeforge.runtime.replay import ReplayFeed
    from tradeforge.runtime.system import TradingSystem

CONTENT_TYPE = CONTENT_TYPE_LATEST
TRADING_STATE_VALUES = {TradingState.ACTIVE: 0, TradingState.REDUCING: 1, TradingState.HALTED: 2}
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
UNMATCHED_ROUTE = "<unmatched>"
# Anything else is counted as OTHER, so arbitrary methods cannot grow the label set.
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Metrics:
    """Owns its registry, so two apps in one process (tests) never share or collide on series."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.http_requests = Counter(
            "tradeforge_http_requests",
            "HTTP requests answered, by method, route template and status",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self.http_latency = Histogram(
            "tradeforge_http_request_duration_seconds",
            "Time to answer an HTTP request",
            ("method", "route", "status"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.order_events = Counter(
            "tradeforge_order_events", "Committed order events, by kind", ("kind",), registry=self.registry
        )
        self.fills = Counter(
            "tradeforge_fills", "Committed fills, by symbol", ("symbol",), registry=self.registry
        )
        self.fill_notional = Counter(
            "tradeforge_fill_notional",
            "Traded value of committed fills, in quote currency, by symbol",
            ("symbol",),
            registry=self.registry,
        )
        self.events = Counter(
            "tradeforge_journal_events",
            "Events published after the journal committed their unit (order and risk events also went "
            "to the outbox), by category",
            ("category",),
            registry=self.registry,
        )
        # Children are looked up once per label set: labels() takes a lock and builds a key each call.
        self._http_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._system: TradingSystem | None = None
        self._replay: ReplayFeed | None = None
        self.registry.register(_SystemCollector(self))
        self.registry.register(VenueCollector(self))  # tradeforge_venue_* (venue_metrics.py)

    def bind(self, system: TradingSystem) -> None:
        """Start counting what the system publishes (on its bus, after each commit)."""
        self._system = system
        bus = system.bus
        for kind in EVENT_KINDS.values():
            bus.subscribe(topics.order_event(kind), _Incrementer(self.order_events.labels(kind)))
        bus.subscribe(topics.ALL_FILLS, self._on_fill)
        for category in ("order", "fill", "position", "balance", "risk"):
            bus.subscribe(f"events.{category}.>", _Incrementer(self.events.labels(category)))

    def bind_replay(self, replay: ReplayFeed | None) -> None:
        self._replay = replay

    def _on_fill(self, fill: object) -> None:
        if isinstance(fill, Fill):
            self.fills.labels(fill.symbol).inc()
            self.fill_notional.labels(fill.symbol).inc(float(fill.notional))

    def observe_http(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._http_children.get(key)
        if children is None:
            label = str(status)
            children = self._http_children[key] = (
                self.http_requests.labels(method, route, label),
                self.http_latency.labels(method, route, label),
            )
        children[0].inc()
        children[1].observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    # read by the collector at scrape time
    @property
    def system(self) -> TradingSystem | None:
        return self._system

    @property
    def replay(self) -> ReplayFeed | None:
        return self._replay


class _Incrementer:
    """A bus handler that counts messages (a class, not a lambda, so each binds its own child)."""

    __slots__ = ("_child",)

    def __init__(self, child: Any) -> None:
        self._child = child

    def __call__(self, _message: object) -> None:
        self._child.inc()


class _SystemCollector(Collector):
    """Values read from the live system when scraped, so they can never drift from it."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Any]:
        system = self._metrics.system
        if system is not None:
            state = GaugeMetricFamily(
                "tradeforge_trading_state", "Trading state: 0 active, 1 reducing, 2 halted"
            )
            state.add_metric([], TRADING_STATE_VALUES[system.risk.state])
            yield state
            working = GaugeMetricFamily(
                "tradeforge_working_orders", "Orders pending, open or partially filled"
            )
            working.add_metric([], len(system.cache.all_working()))
            yield working
            bars = CounterMetricFamily(
                "tradeforge_bars", "Bars that reached the data engine, by outcome", labels=("outcome",)
            )
            bars.add_metric(["published"], system.data_engine.bars_published)
            bars.add_metric(["dropped"], system.data_engine.bars_dropped)
            yield bars
        replay = self._metrics.replay
        if replay is not None:
            replayed = CounterMetricFamily("tradeforge_replay_bars", "Bars played by the replay feed")
            replayed.add_metric([], replay.bars_replayed)
            yield replayed
            passes = CounterMetricFamily(
                "tradeforge_replay_passes", "Completed passes over the replayed files"
            )
            passes.add_metric([], replay.passes)
            yield passes


class MetricsMiddleware:
    """Pure ASGI middleware (no per-request task or body buffering) timing every HTTP request."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED_ROUTE
            method = scope["method"] if scope["method"] in HTTP_METHODS else "OTHER"
            self.metrics.observe_http(method, template, status, time.perf_counter() - start)
