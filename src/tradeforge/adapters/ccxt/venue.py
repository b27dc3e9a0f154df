"""CcxtVenue: the Venue port over ccxt.async_support for binance, bybit, okx and kraken spot."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ccxt.base.decimal_to_precision import TICK_SIZE

from tradeforge.adapters.ccxt.breaker import BreakerSnapshot, BreakerState
from tradeforge.adapters.ccxt.capabilities import AmendStyle
from tradeforge.adapters.ccxt.client import VenueClient
from tradeforge.adapters.ccxt.errors import VenueError
from tradeforge.adapters.ccxt.tracking import TrackedOrder
from tradeforge.adapters.ccxt.translate import (
    VenueOrder,
    VenueTrade,
    balances_from_ccxt,
    instruments_from_markets,
    order_from_ccxt,
    trade_from_ccxt,
)
from tradeforge.adapters.ccxt.workflow import OrderWorkflow, RequestRefusal
from tradeforge.adapters.clocks import WallClock
from tradeforge.domain.balances import Balance
from tradeforge.domain.events import OrderEvent, OrderRejected
from tradeforge.domain.instruments import Instrument
from tradeforge.domain.orders import Order
from tradeforge.domain.values import ZERO
from tradeforge.ports.clock import Clock
from tradeforge.ports.venue import VenueReportSink, VenueRequestRefused

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CcxtVenueConfig:
    """poll_interval_ms: how often on_time follows working orders (open orders per symbol, then the
    order and its trades when something changed). balance_interval_ms: balance snapshot refresh.
    trade_lookback_ms: venues that list trades by time only (kraken) are read from the order's
    creation minus this. resubmit_absent: an order left pending (by a restart, or an unresolved
    create) that the venue provably does not have is sent (as the paper venue does); else rejected."""

    poll_interval_ms: int = 2_000
    balance_interval_ms: int = 15_000
    trade_lookback_ms: int = 60_000
    resubmit_absent: bool = True


@dataclass(frozen=True, slots=True)
class VenueFill:
    """An own trade as the venue lists it; order_id is ours when the adapter knows the order."""

    trade: VenueTrade
    order_id: str | None
    client_order_id: str | None


class CcxtVenue:
    """A remote venue behind the synchronous Venue port.

    Port methods run on the event loop's thread (the engine thread in the service; calls from other
    threads hop onto it); each becomes a task on that loop, and every outcome reaches the sink as a
    domain event from that loop. Refusals known at once (unsupported type, circuit open) are
    reported before submit() returns, as the paper venue does."""

    def __init__(
        self,
        client: VenueClient,
        *,
        account_id: str,
        clock: Clock | None = None,
        config: CcxtVenueConfig | None = None,
        symbols: Iterable[str] | None = None,
        on_refusal: Callable[[RequestRefusal], None] | None = None,
    ) -> None:
        self._client = client
        self._caps = client.capabilities
        self.name = self._caps.name
        self.account_id = account_id
        self.config = config or CcxtVenueConfig()
        self._clock = clock or WallClock()
        self._symbols = frozenset(symbols) if symbols is not None else None
        self._on_refusal = on_refusal
        self._sink: VenueReportSink | None = None
        self._backlog: deque[OrderEvent] = deque()
        self._instruments: dict[str, Instrument] = {}
        self._orders: dict[str, TrackedOrder] = {}
        self._balances: list[Balance] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._polling = False
        self._last_poll_ms = 0
        self._last_balance_ms = 0
        self.refusals: deque[RequestRefusal] = deque(maxlen=100)
        self.anomalies: deque[str] = deque(maxlen=100)
        self._flow = OrderWorkflow(
            client,
            clock=self._clock,
            instruments=self._instruments,
            report=self._report,
            refuse=self._refused,
            anomaly=self._anomaly,
            trade_lookback_ms=self.config.trade_lookback_ms,
            resubmit_absent=self.config.resubmit_absent,
        )

    # -- lifecycle ----------------------------------------------------------------------------------
    async def start(self) -> None:
        """Open the exchange on the running loop, load instruments and a first balance snapshot."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        exchange = await self._client.handle.open()
        markets = await self._client.load_markets()
        mode = getattr(exchange, "precisionMode", TICK_SIZE)
        self._instruments.clear()
        for instrument in instruments_from_markets(markets, self.name, mode, self._symbols):
            self._instruments[instrument.symbol] = instrument
        try:
            await self.fetch_balances()
        except VenueError as error:
            logger.warning("%s: no balance snapshot at start: %s", self.name, error)

    async def drain(self) -> None:
        """Wait until every task the port calls started has finished (tests, orderly shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        await self.drain()
        await self._client.handle.close()
        await self._client.budget.close()

    @property
    def started(self) -> bool:
        return self._loop is not None and self._client.handle.exchange is not None

    @property
    def client(self) -> VenueClient:
        return self._client

    # -- Venue port ---------------------------------------------------------------------------------
    def bind(self, sink: VenueReportSink) -> None:
        self._sink = sink
        while self._backlog:
            self._deliver(self._backlog.popleft())

    def instruments(self) -> list[Instrument]:
        return list(self._instruments.values())

    def submit(self, order: Order) -> None:
        if self._hop(self.submit, order) or order.id in self._orders:
            return  # a resend of an order this venue already holds changes nothing
        reason = self._refusal(order)
        if reason is not None:
            self._report(OrderRejected(self._clock.now_ms(), order.id, reason))
            return
        tracked = TrackedOrder.from_order(order, self._caps.client_id.venue_id(order.client_order_id))
        self._orders[order.id] = tracked
        self._spawn(self._flow.create(tracked))

    def cancel(self, order: Order) -> None:
        tracked = self._working(order)
        if self._hop(self.cancel, order) or tracked.cancel_requested:
            return
        tracked.cancel_requested = True
        self._spawn(self._flow.cancel(tracked))

    def amend(self, order: Order, quantity: Decimal, price: Decimal | None) -> None:
        tracked = self._working(order)
        if not tracked.accepted:
            raise VenueRequestRefused(f"order {order.id} is not yet accepted by venue {self.name}")
        if tracked.type not in self._caps.amendable:
            raise VenueRequestRefused(f"venue {self.name} cannot amend {tracked.type.value} orders")
        if self._client.breaker.state is not BreakerState.CLOSED:
            raise VenueRequestRefused(self._circuit_reason())
        if self._hop(self.amend, order, quantity, price):
            return
        self._spawn(self._flow.amend(tracked, quantity, price))

    def balances(self, account_id: str) -> list[Balance]:
        """The last balance snapshot (refreshed by on_time and by fetch_balances())."""
        if account_id != self.account_id:
            return []
        return [Balance(b.account_id, b.asset, b.total, b.locked, b.updated_at) for b in self._balances]

    def on_time(self, now_ms: int) -> None:
        if not self.started or self._polling or self._hop(self.on_time, now_ms):
            return
        if now_ms - self._last_poll_ms < self.config.poll_interval_ms:
            return
        self._last_poll_ms = now_ms
        self._spawn(self.poll())

    def restore(self, working_orders: list[Order], balances: list[Balance]) -> None:
        """Take over the OMS's working orders after a restart. Nothing is sent here: the next poll
        looks pending orders up by client order id (and, where amends replace orders, finds the
        live venue order the same way), then reports the fills the OMS has not booked yet."""
        flow = self._flow
        for order in working_orders:
            if order.venue != self.name or order.id in self._orders:
                continue
            tracked = TrackedOrder.from_order(order, self._caps.client_id.venue_id(order.client_order_id))
            if not tracked.accepted or not tracked.venue_order_ids:
                tracked.unresolved = True
            elif self._caps.amend_style is AmendStyle.CANCEL_REPLACE:
                tracked.unresolved = True  # the stored venue id may have been replaced since
            self._orders[order.id] = tracked
            for venue_order_id in tracked.venue_order_ids:
                flow.by_venue_id[venue_order_id] = tracked
        mine = [b for b in balances if b.account_id == self.account_id]
        if mine:
            self._balances = mine

    # -- for operators, metrics and reconciliation ---------------------------------------------------
    def breaker_snapshot(self) -> BreakerSnapshot:
        return self._client.breaker.snapshot()

    def remaining_budget(self) -> float:
        return self._client.budget.remaining()

    def venue_order_ids(self, order_id: str) -> tuple[str, ...]:
        """Every venue order that carried our order (oldest first, the last is live)."""
        tracked = self._orders.get(order_id)
        return tuple(tracked.venue_order_ids) if tracked is not None else ()

    def unresolved_orders(self) -> list[str]:
        """Our orders whose create outcome is not known yet (a lookup is retried every poll)."""
        return [t.order_id for t in self._orders.values() if t.unresolved and not t.done]

    def working_order_ids(self) -> list[str]:
        return [t.order_id for t in self._orders.values() if not t.done]

    def mark_trades_seen(self, trade_ids: Iterable[str]) -> None:
        """Trades already booked (venue trade ids, or our fill ids "<venue>:<trade id>", e.g. the
        stored fills of working orders after a restart): never report them again."""
        prefix = f"{self.name}:"
        for trade_id in trade_ids:
            self._flow.remember_trade(trade_id.removeprefix(prefix))

    async def fetch_balances(self) -> list[Balance]:
        raw = await self._client.balance()
        self._balances = balances_from_ccxt(raw, self.account_id, self._clock.now_ms())
        self._last_balance_ms = self._clock.now_ms()
        return self.balances(self.account_id)

    async def fetch_open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        return [order_from_ccxt(raw) for raw in await self._client.open_orders(symbol)]

    async def fetch_order(self, venue_order_id: str, symbol: str, stop: bool = False) -> VenueOrder:
        return order_from_ccxt(await self._client.fetch_order(venue_order_id, symbol, stop))

    async def find_order(self, client_order_id: str, symbol: str, stop: bool = False) -> VenueOrder | None:
        """The venue's newest order carrying our client_order_id, or None when it provably has none."""
        venue_client_id = self._caps.client_id.venue_id(client_order_id)
        raw = await self._client.find_by_client_id(symbol, venue_client_id, stop)
        return order_from_ccxt(raw) if raw is not None else None

    async def fetch_fills(self, symbol: str, since_ms: int | None = None) -> list[VenueFill]:
        """Own trades of `symbol` since `since_ms` (oldest first), mapped to our orders when known."""
        instrument = self._flow.instrument(symbol)
        now = self._clock.now_ms()
        fills = []
        for raw in await self._client.trades_since(symbol, since_ms):
            trade = trade_from_ccxt(raw, instrument, now)
            tracked = self._flow.by_venue_id.get(trade.venue_order_id or "")
            order_id = tracked.order_id if tracked else None
            fills.append(VenueFill(trade, order_id, tracked.client_order_id if tracked else None))
        return fills

    async def fetch_ohlcv(
        self, symbol: str, timeframe: str = "1m", since_ms: int | None = None, limit: int | None = None
    ) -> list[list[Any]]:
        """Candles as ccxt returns them ([ts, open, high, low, close, volume], floats)."""
        return list(await self._client.call_retrying("fetch_ohlcv", symbol, timeframe, since_ms, limit))

    async def sync_order(self, order_id: str) -> None:
        """Bring one order up to date with the venue now: an amend whose answer was lost (native
        amends), its fills, then a final status."""
        tracked = self._orders.get(order_id)
        if tracked is None:
            return
        async with tracked.lock:
            if tracked.unresolved and not tracked.done:
                # Its live venue order is not known (a create or cancel-replace whose outcome is
                # unknown): following the last known one could end it wrongly. Look it up instead.
                await self._flow.resolve(tracked)
                return
            venue_order_id = tracked.venue_order_id
            if venue_order_id is None or tracked.done:
                return
            snapshot = await self._flow.fetch_order(venue_order_id, tracked)
            self._flow.take_venue_amend(tracked, snapshot)
            await self._flow.follow(tracked, snapshot)

    async def probe(self) -> bool:
        """One health request (a balance read) that may pass a half-open breaker; True if it did."""
        try:
            raw = await self._client.balance(probe=True)
        except VenueError as error:
            logger.info("%s probe failed: %s", self.name, error)
            return False
        self._balances = balances_from_ccxt(raw, self.account_id, self._clock.now_ms())
        self._last_balance_ms = self._clock.now_ms()
        return True

    # -- housekeeping -------------------------------------------------------------------------------
    async def poll(self) -> None:
        """One round: probe a half-open breaker, expire due GTD orders, resolve orders whose create
        is unknown, follow working orders, refresh balances. on_time schedules it."""
        if self._polling:
            return
        self._polling = True
        try:
            breaker = self._client.breaker
            if breaker.state is BreakerState.HALF_OPEN:
                await self.probe()
            if breaker.state is not BreakerState.CLOSED:
                return
            self._expire_due()
            for tracked in [t for t in self._orders.values() if t.unresolved and not t.done]:
                if not tracked.lock.locked():
                    async with tracked.lock:
                        await self._flow.resolve(tracked)
            await self._follow_working()
            if self._clock.now_ms() - self._last_balance_ms >= self.config.balance_interval_ms:
                await self.fetch_balances()
        except VenueError as error:
            logger.warning("%s poll stopped: %s", self.name, error)
        finally:
            self._polling = False
            self._prune()

    def _expire_due(self) -> None:
        now = self._clock.now_ms()
        for tracked in list(self._orders.values()):
            due = tracked.expire_at is not None and tracked.expire_at <= now
            if due and tracked.accepted and not tracked.done and not tracked.cancel_requested:
                tracked.cancel_requested = tracked.expiring = True
                self._spawn(self._flow.cancel(tracked))

    async def _follow_working(self) -> None:
        groups: dict[str, list[TrackedOrder]] = {}
        for tracked in self._orders.values():
            if tracked.accepted and not tracked.done and not tracked.unresolved:
                groups.setdefault(tracked.symbol, []).append(tracked)
        for symbol, group in groups.items():
            listed = {o.venue_order_id: o for o in await self.fetch_open_orders(symbol)}
            for tracked in group:
                if tracked.lock.locked() or tracked.done:
                    continue  # an operation on it is under way and settles it
                async with tracked.lock:
                    live = listed.get(tracked.venue_order_id or "")
                    known = tracked.filled_by_venue_id.get(live.venue_order_id, ZERO) if live else ZERO
                    if live is None:
                        await self._flow.follow(tracked, None)  # gone from the open list: how did it end?
                    elif (live.filled or ZERO) > known or tracked.restored:
                        await self._flow.follow(tracked, live)

    def _prune(self) -> None:
        for order_id in [k for k, t in self._orders.items() if t.done]:
            tracked = self._orders.pop(order_id)
            for venue_order_id in tracked.venue_order_ids:
                self._flow.by_venue_id.pop(venue_order_id, None)

    # -- helpers --------------------------------------------------------------------------------------
    def _circuit_reason(self) -> str:
        state = self._client.breaker.state
        label = "half-open" if state is BreakerState.HALF_OPEN else state.value
        return f"venue {self.name} unavailable: circuit {label}"

    def _refusal(self, order: Order) -> str | None:
        """Why an order cannot be sent at all (reported as OrderRejected at once), or None."""
        if not self.started:
            return f"venue {self.name} is not connected"
        if self._client.breaker.state is not BreakerState.CLOSED:
            return self._circuit_reason()
        if order.symbol not in self._instruments:
            return f"unknown instrument {order.symbol} on venue {self.name}"
        if not self._caps.supports(order.type):
            return f"venue {self.name} does not support {order.type.value} orders"
        if order.time_in_force not in self._caps.time_in_force:
            return f"venue {self.name} does not support time in force {order.time_in_force.value}"
        return None

    def _working(self, order: Order) -> TrackedOrder:
        tracked = self._orders.get(order.id)
        if tracked is None or tracked.done:
            raise VenueRequestRefused(f"order {order.id} is not working on venue {self.name}")
        return tracked

    def _refused(self, refusal: RequestRefusal) -> None:
        self.refusals.append(refusal)
        if self._on_refusal is not None:
            self._on_refusal(refusal)

    def _anomaly(self, text: str) -> None:
        logger.error("%s: %s", self.name, text)
        self.anomalies.append(text)

    def _report(self, event: OrderEvent) -> None:
        if self._sink is None:
            self._backlog.append(event)
            return
        self._deliver(event)

    def _deliver(self, event: OrderEvent) -> None:
        assert self._sink is not None
        try:
            self._sink(event)
        except Exception:
            # The sink (the OMS) failing must not kill this venue's tasks; it is a bug to fix there.
            logger.exception("%s: the report sink failed on %r", self.name, event)
            self.anomalies.append(f"sink failed on {type(event).__name__} for {event.order_id}")

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        loop = self._loop
        assert loop is not None
        task = loop.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("%s: venue task failed", self.name, exc_info=task.exception())
            self.anomalies.append(f"task failed: {task.exception()!r}")

    def _hop(self, method: Callable[..., None], *args: Any) -> bool:
        """A port call from another thread is re-run on the loop's thread; True when it hopped."""
        loop = self._loop
        if loop is None or threading.get_ident() == self._loop_thread:
            return False
        loop.call_soon_threadsafe(method, *args)
        return True
