"""Prometheus metrics per venue, read from the venues at scrape time: breaker, budget, requests, latency."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from tradeforge.runtime.venues import VenueHealth

BREAKER_VALUES = {"closed": 0, "half_open": 1, "open": 2}
TRADING_VALUES = {"active": 0, "reducing": 1, "halted": 2}


class VenueCollector(Collector):
    """tradeforge_venue_* families. Values come from the venues themselves on every scrape, so they
    never drift from what /ready shows."""

    def __init__(self, source: Any) -> None:
        """source: anything with a `system` attribute, None until the service has built it (Metrics)."""
        self._source = source

    def collect(self) -> Iterator[Any]:
        system = getattr(self._source, "system", None)
        if system is None:
            return
        from tradeforge.runtime.venues import venue_health

        yield from venue_families(venue_health(system))


def venue_families(venues: list[VenueHealth]) -> Iterator[Any]:
    up = GaugeMetricFamily(
        "tradeforge_venue_up", "1 when the venue takes orders now", labels=("venue", "kind")
    )
    breaker = GaugeMetricFamily(
        "tradeforge_venue_breaker_state",
        "Circuit breaker: 0 closed, 1 half-open, 2 open, 3 not connected yet",
        labels=("venue",),
    )
    transitions = CounterMetricFamily(
        "tradeforge_venue_breaker_transitions", "Circuit breaker state changes", labels=("venue",)
    )
    budget = GaugeMetricFamily(
        "tradeforge_venue_request_budget_remaining",
        "Request budget tokens left (as last seen)",
        labels=("venue",),
    )
    capacity = GaugeMetricFamily(
        "tradeforge_venue_request_budget_capacity", "Request budget size in tokens", labels=("venue",)
    )
    requests = CounterMetricFamily(
        "tradeforge_venue_requests", "Requests the adapter sent to the venue", labels=("venue",)
    )
    errors = CounterMetricFamily(
        "tradeforge_venue_errors", "Failed venue requests, by our error kind", labels=("venue", "kind")
    )
    transport = CounterMetricFamily(
        "tradeforge_venue_transport_failures",
        "HTTP requests that got no answer, by exception",
        labels=("venue", "exception"),
    )
    latency = HistogramMetricFamily(
        "tradeforge_venue_http_request_duration_seconds",
        "Time from sending a request to the venue's response headers",
        labels=("venue",),
    )
    book_age = GaugeMetricFamily(
        "tradeforge_venue_order_book_age_seconds",
        "Age of the latest order book the router can use",
        labels=("venue", "symbol"),
    )
    trading = GaugeMetricFamily(
        "tradeforge_venue_trading_state",
        "Reconciliation gate: 0 active, 1 reducing only, 2 halted",
        labels=("venue",),
    )
    for venue in venues:
        up.add_metric([venue.name, venue.kind], 1 if venue.up else 0)
        if venue.kind != "ccxt":
            continue
        name = [venue.name]
        trading.add_metric(name, TRADING_VALUES.get(venue.trading, 2))
        breaker.add_metric(name, BREAKER_VALUES.get(venue.state, 3))
        transitions.add_metric(name, venue.transitions)
        if venue.remaining_budget is not None:
            budget.add_metric(name, venue.remaining_budget)
        if venue.budget_capacity is not None:
            capacity.add_metric(name, venue.budget_capacity)
        requests.add_metric(name, venue.requests)
        for kind, count in sorted(venue.errors.items()):
            errors.add_metric([venue.name, kind], count)
        for symbol, age in sorted(venue.book_ages_s.items()):
            book_age.add_metric([venue.name, symbol], age)
        stats = venue.stats
        if stats is not None:
            for exception, count in sorted(stats.failures.items()):
                transport.add_metric([venue.name, exception], count)
            latency.add_metric(name, buckets=stats.cumulative(), sum_value=stats.total_s)
    yield from (up, breaker, trading, transitions, budget, capacity, requests, errors, transport, latency)
    yield book_age
