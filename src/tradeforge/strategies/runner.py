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


class StrategyRunner:
    """add() a strategy, start() it, stop() it; status() reports. Market data reaches a running
    strategy through the bus (after the venue matched and the portfolio marked the bar); events of
    its own orders through the order-event topics. Any exception from a strategy hook, or from
    emulation acting for it, fails that strategy alone: it is marked failed with the error text,
    its working orders are cancelled, StrategyFailed is published, and the caller never sees it."""

    def __init__(self, system: TradingSystem, state_store: StateStore | None = None) -> None:
        self._system = system
        self._store: StateStore = state_store or SettingsStateStore(system)
        self._slots: dict[str, _Slot] = {}
        self._by_topic: dict[str, list[_Slot]] = {}
        self._owners: dict[str, str] = {}  # order id -> strategy id
        system.bus.subscribe(topics.ALL_ORDER_EVENTS, self._on_order_event)

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
        slots = self._by_topic.get(topics.bars(bar.symbol, bar.timeframe), ())
        view: BarView | None = None
        for slot in slots:
            if slot.status is not StrategyStatus.RUNNING:
                continue
            view = view or BarView.from_bar(bar)
            self._call(slot, "emulation", slot.emulator.on_bar, bar.symbol, bar.close)
            self._call(slot, "on_bar", slot.strategy.on_bar, view)

    def _on_tick(self, tick: Tick) -> None:
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
        order = self._system.oms.get(event.order_id)
        with self._system.recorder.unit():
            if order is not None:
                self._call(slot, "emulation", slot.emulator.on_order, order)
            self._call(slot, "on_order_event", slot.strategy.on_order_event, event)
            if isinstance(event, OrderFilled):
                self._call(slot, "on_fill", slot.strategy.on_fill, event.fill)

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
