"""Hosts strategies in a TradingSystem: routes data and order events, saves state, isolates failures."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from tradeforge.bus import topics
from tradeforge.domain.commands import CancelAllOrders
from tradeforge.domain.data import Bar, Tick
from tradeforge.domain.errors import ValidationError
from tradeforge.domain.events import OrderEvent, OrderFilled, OrderSubmitted
from tradeforge.domain.fills import Fill
from tradeforge.domain.orders import Order
from tradeforge.domain.positions import Position
from tradeforge.domain.values import ZERO
from tradeforge.runtime.system import TradingSystem
from tradeforge.strategies import topics as strategy_topics
from tradeforge.strategies.base import BarView, StateStore, Strategy, TickView
from tradeforge.strategies.context import StrategyContext
from tradeforge.strategies.emulation import OrderEmulator
from tradeforge.strategies.events import StrategyFailed

logger = logging.getLogger(__name__)
STATE_KEY_PREFIX = "strategy.state."


class StrategyStatus(StrEnum):
    ADDED = "added"
    RUNNING = "running"
    STOPPED = "stopped"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class StrategyStatusView:
    """One strategy's status and its own PnL (from its own fills only; fees apart from realized)."""

    strategy_id: str
    name: str
    status: StrategyStatus
    error: str | None
    symbols: tuple[str, ...]
    timeframe: str
    positions: dict[str, Decimal]
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    fees: Decimal
    fills: int


class SettingsStateStore:
    """Keeps each strategy's state as a JSON text in the settings table, written inside a unit so it
    commits with whatever else that unit changed."""

    def __init__(self, system: TradingSystem) -> None:
        self._system = system

    def load(self, strategy_id: str) -> str | None:
        with self._system.uow_factory() as uow:
            return uow.settings.get(STATE_KEY_PREFIX + strategy_id)

    def save(self, strategy_id: str, blob: str) -> None:
        with self._system.recorder.unit():
            self._system.recorder.setting(STATE_KEY_PREFIX + strategy_id, blob)


@dataclass(slots=True)
class MemoryStateStore:
    """Strategy state kept in memory (backtests, which never restart midway)."""

    blobs: dict[str, str] = field(default_factory=dict)

    def load(self, strategy_id: str) -> str | None:
        return self.blobs.get(strategy_id)

    def save(self, strategy_id: str, blob: str) -> None:
        self.blobs[strategy_id] = blob


@dataclass(slots=True)
class _Slot:
    strategy_id: str
    strategy: Strategy[Any]
    symbols: tuple[str, ...]
    timeframe: str
    context: StrategyContext
    emulator: OrderEmulator
    status: StrategyStatus = StrategyStatus.ADDED
    error: str | None = None
    saved: str | None = None
    books: dict[str, Position] = field(default_factory=dict)
    fills: int = 0
    hears_events: bool = True  # the strategy overrides on_order_event
    hears_fills: bool = True  # the strategy overrides on_fill


class StrategyRunner:
    """add() a strategy, start() it, stop() it; status() reports. Market data reaches a running
    strategy through the bus (after the venue matched and the portfolio marked the bar); events of
    its own orders through the order-event topics. Any exception from a strategy hook, or from
    emulation acting for it, fails that strategy alone: it is marked failed with the error text,
    its working orders are cancelled, StrategyFailed is published, and the caller never sees it."""

    def __init__(
        self, system: TradingSystem, state_store: StateStore | None = None, *, save_every_hook: bool = True
    ) -> None:
        """save_every_hook=False saves a strategy's state only when it stops (backtests, where a
        restart cannot happen mid-run and serializing state after every bar would dominate)."""
        self._system = system
        self._save_every_hook = save_every_hook
        self._store: StateStore = state_store or SettingsStateStore(system)
        self.state_store = self._store
        self._slots: dict[str, _Slot] = {}
        self._by_topic: dict[str, list[_Slot]] = {}
        self._bar_handlers: dict[tuple[str, str], Callable[[BarView, Decimal | None], None]] = {}
        self._owners: dict[str, str] = {}  # order id -> strategy id
        system.bus.subscribe(topics.ALL_ORDER_EVENTS, self._on_order_event)
        system.bus.subscribe(strategy_topics.DATA_READY, self._on_data_ready)

    # --- lifecycle -----------------------------------------------------------------------------
    def add(
        self, strategy_id: str, strategy: Strategy[Any], symbols: Sequence[str], timeframe: str = "1m"
    ) -> None:
        if strategy_id in self._slots:
            raise ValidationError("strategy_id", f"strategy {strategy_id!r} already added")
        if not strategy_id or "." in strategy_id or len(strategy_id) > 24:
            raise ValidationError("strategy_id", "must be 1-24 characters without '.'")
        for symbol in symbols:
            self._system.instruments.find(symbol)
        context = StrategyContext(self._system, strategy_id, on_submitted=self._remember)
        emulator = OrderEmulator(context)
        context.attach(emulator)
        strategy.bind(context)
        slot = _Slot(strategy_id, strategy, tuple(symbols), timeframe, context, emulator)
        kind = type(strategy)
        slot.hears_events = kind.on_order_event is not Strategy.on_order_event
        slot.hears_fills = kind.on_fill is not Strategy.on_fill
        self._slots[strategy_id] = slot
        for symbol in slot.symbols:
            self._route(topics.bars(symbol, timeframe), slot, self._on_bar)
            self._route(topics.ticks(symbol), slot, self._on_tick)

    def start(self, strategy_id: str) -> StrategyStatus:
        """Restore the saved state (and the client order id sequence), then call on_start."""
        slot = self._slot(strategy_id)
        if slot.status is StrategyStatus.RUNNING:
            return slot.status
        blob = self._store.load(strategy_id)
        if blob is not None:
            saved = json.loads(blob)
            slot.strategy.state = dict(saved.get("state", {}))
            slot.context.sequence = max(slot.context.sequence, int(saved.get("sequence", 0)))
            slot.saved = blob
        slot.status = StrategyStatus.RUNNING
        slot.error = None
        with self._system.recorder.unit():
            self._call(slot, "on_start", slot.strategy.on_start)
        return slot.status

    def stop(self, strategy_id: str, cancel_orders: bool = True) -> StrategyStatus:
        """Call on_stop, save the state, and (by default) cancel the strategy's working orders."""
        slot = self._slot(strategy_id)
        if slot.status is not StrategyStatus.RUNNING:
            return slot.status
        with self._system.recorder.unit():
            self._call(slot, "on_stop", slot.strategy.on_stop)
            if not self._save_every_hook:
                self._save(slot)
            if slot.status is StrategyStatus.RUNNING:
                slot.status = StrategyStatus.STOPPED
                slot.emulator.clear()
                if cancel_orders:
                    self._cancel_all(slot)
        return slot.status

    def status(self, strategy_id: str | None = None) -> list[StrategyStatusView]:
        slots = [self._slot(strategy_id)] if strategy_id is not None else list(self._slots.values())
        return [self._view(slot) for slot in slots]

    def strategy(self, strategy_id: str) -> Strategy[Any]:
        return self._slot(strategy_id).strategy

    def emulator(self, strategy_id: str) -> OrderEmulator:
        return self._slot(strategy_id).emulator

    def on_timer(self, now_ms: int | None = None) -> None:
        """Call on_timer of every running strategy; whoever drives TradingSystem.on_timer calls this."""
        now = self._system.clock.now_ms() if now_ms is None else now_ms
        with self._system.recorder.unit():
            for slot in list(self._slots.values()):
                if slot.status is StrategyStatus.RUNNING:
                    self._call(slot, "on_timer", slot.strategy.on_timer, now)

    # --- routing -------------------------------------------------------------------------------
    def _route(self, topic: str, slot: _Slot, handler: Callable[[Any], None]) -> None:
        if topic not in self._by_topic:
            self._by_topic[topic] = []
            self._system.bus.subscribe(topic, handler)
        self._by_topic[topic].append(slot)

    def _on_bar(self, bar: Bar) -> None:
        # Deferred to after the unit: the venue matched this bar in the same unit, and its fills are
        # published (after commit) before the bar reaches strategies — as in the backtester.
        self._system.recorder.publish(strategy_topics.DATA_READY, bar)

    def _on_data_ready(self, data: Bar | Tick) -> None:
        if isinstance(data, Bar):
            slots = self._by_topic.get(topics.bars(data.symbol, data.timeframe), ())
            if any(slot.status is StrategyStatus.RUNNING for slot in slots):
                with self._system.recorder.unit():
                    key = (data.symbol, data.timeframe)
                    deliver = self._bar_handlers.get(key)
                    if deliver is None:  # made once the topic has slots: it holds that very list
                        deliver = self._bar_handlers[key] = self.bar_handler(*key)
                    deliver(BarView.from_bar(data), data.close)
        else:
            with self._system.recorder.unit():
                self._deliver_tick(data)

    def bar_handler(self, symbol: str, timeframe: str) -> Callable[[BarView, Decimal | None], None]:
        """How strategies get each bar of (symbol, timeframe) — from the bus here, and directly from
        a driver (the backtester): routing, emulation and isolation. The Decimal close (for trailing
        stops) is given, or (None) read from the portfolio only when an emulation needs it. Written
        out flat because it runs once per bar."""
        slots = self._by_topic.get(topics.bars(symbol, timeframe), [])
        last_price = self._system.portfolio.last_price
        running = StrategyStatus.RUNNING

        def deliver(view: BarView, close: Decimal | None) -> None:
            for slot in slots:
                if slot.status is not running:
                    continue
                if slot.emulator.watches_bars:
                    price = close if close is not None else last_price(symbol)
                    if price is not None:
                        self._call(slot, "emulation", slot.emulator.on_bar, symbol, price)
                    if slot.status is not running:
                        continue
                try:
                    slot.strategy.on_bar(view)
                except Exception as error:
                    self._fail(slot, "on_bar", error)
                    continue
                if self._save_every_hook:
                    self._save(slot)

        return deliver

    def tick_handler(self, symbol: str) -> Callable[[TickView], None]:
        """As bar_handler, for the prints of `symbol` (strategies' on_tick)."""
        slots = self._by_topic.get(topics.ticks(symbol), [])
        running = StrategyStatus.RUNNING

        def deliver(view: TickView) -> None:
            for slot in slots:
                if slot.status is running:
                    self._call(slot, "on_tick", slot.strategy.on_tick, view)

        return deliver

    def _on_tick(self, tick: Tick) -> None:
        self._system.recorder.publish(strategy_topics.DATA_READY, tick)

    def _deliver_tick(self, tick: Tick) -> None:
        view: TickView | None = None
        for slot in self._by_topic.get(topics.ticks(tick.symbol), ()):
            if slot.status is StrategyStatus.RUNNING:
                view = view or TickView.from_tick(tick)
                self._call(slot, "on_tick", slot.strategy.on_tick, view)

    def _remember(self, order: Order) -> None:
        if order.strategy_id is not None:
            self._owners[order.id] = order.strategy_id

    def _on_order_event(self, event: OrderEvent) -> None:
        strategy_id = self._owner(event)
        slot = self._slots.get(strategy_id) if strategy_id is not None else None
        if slot is None:
            return
        if isinstance(event, OrderFilled):
            self._book(slot, event.fill)
        if slot.status is not StrategyStatus.RUNNING:
            return
        filled = isinstance(event, OrderFilled)
        emulating = slot.emulator.tracks_orders
        # Hooks the strategy does not override do nothing: not calling them saves a unit per event.
        if not (emulating or slot.hears_events or (filled and slot.hears_fills)):
            return
        with self._system.recorder.unit():
            if emulating:
                order = self._system.oms.get(event.order_id)
                if order is not None:
                    self._call(slot, "emulation", slot.emulator.on_order, order)
            if slot.hears_events:
                self._call(slot, "on_order_event", slot.strategy.on_order_event, event)
            if filled and slot.hears_fills:
                self._call(slot, "on_fill", slot.strategy.on_fill, event.fill)  # type: ignore[attr-defined]

    def _owner(self, event: OrderEvent) -> str | None:
        if isinstance(event, OrderSubmitted):
            if event.strategy_id is not None:
                self._owners[event.order_id] = event.strategy_id
            return event.strategy_id
        if isinstance(event, OrderFilled) and event.fill.strategy_id is not None:
            return event.fill.strategy_id
        owner = self._owners.get(event.order_id)
        if owner is None:
            order = self._system.oms.get(event.order_id)
            owner = None if order is None else order.strategy_id
        return owner

    # --- isolation and state -------------------------------------------------------------------
    def _call(self, slot: _Slot, hook: str, function: Callable[..., None], *args: Any) -> None:
        if slot.status is not StrategyStatus.RUNNING:
            return
        try:
            function(*args)
        except Exception as error:
            self._fail(slot, hook, error)
            return
        if self._save_every_hook:
            self._save(slot)

    def _save(self, slot: _Slot) -> None:
        try:
            blob = json.dumps(
                {"state": slot.strategy.state, "sequence": slot.context.sequence}, sort_keys=True
            )
        except (TypeError, ValueError) as error:
            self._fail(slot, "state", ValueError(f"state is not JSON-able: {error}"))
            return
        if blob != slot.saved:
            self._store.save(slot.strategy_id, blob)
            slot.saved = blob

    def _fail(self, slot: _Slot, hook: str, error: Exception) -> None:
        logger.exception("strategy %s failed in %s", slot.strategy_id, hook, exc_info=error)
        slot.status = StrategyStatus.FAILED
        slot.error = f"{type(error).__name__}: {error}"
        slot.emulator.clear()
        with self._system.recorder.unit():
            cancelled = self._cancel_all(slot)
            event = StrategyFailed(self._system.clock.now_ms(), slot.strategy_id, hook, slot.error, cancelled)
            self._system.recorder.publish(strategy_topics.FAILED, event)

    def _cancel_all(self, slot: _Slot) -> int:
        try:
            cancelled = self._system.bus.send(
                CancelAllOrders(self._system.settings.account_id, None, slot.strategy_id, "strategy stopped")
            )
        except Exception:
            logger.exception("strategy %s: cancelling its orders failed", slot.strategy_id)
            return 0
        return len(cancelled)

    # --- per-strategy accounting ---------------------------------------------------------------
    def _book(self, slot: _Slot, fill: Fill) -> None:
        book = slot.books.get(fill.symbol)
        if book is None:
            book = slot.books[fill.symbol] = Position(slot.strategy_id, fill.symbol)
        instrument = self._system.instruments.get(fill.venue, fill.symbol)
        fee = fill.fee if fill.fee_asset == instrument.quote else fill.fee * fill.price
        book.apply_fill(fill, fee)
        slot.fills += 1

    def _view(self, slot: _Slot) -> StrategyStatusView:
        realized = unrealized = fees = ZERO
        for symbol, book in slot.books.items():
            realized += book.realized_pnl
            fees += book.fees
            unrealized += book.unrealized_pnl(self._system.portfolio.last_price(symbol))
        return StrategyStatusView(
            strategy_id=slot.strategy_id,
            name=slot.strategy.name or type(slot.strategy).__name__,
            status=slot.status,
            error=slot.error,
            symbols=slot.symbols,
            timeframe=slot.timeframe,
            positions={symbol: book.quantity for symbol, book in slot.books.items()},
            realized_pnl=realized,
            unrealized_pnl=unrealized,
            fees=fees,
            fills=slot.fills,
        )

    def _slot(self, strategy_id: str) -> _Slot:
        slot = self._slots.get(strategy_id)
        if slot is None:
            raise ValidationError("strategy_id", f"no strategy {strategy_id!r}; added: {sorted(self._slots)}")
        return slot
