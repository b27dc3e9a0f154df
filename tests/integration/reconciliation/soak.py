"""The randomized fault soak of one venue: seeded orders and faults, reconciliation running while
trading, a final reconciliation, then the books compared with the emulator's, field by field.

`run_soak` returns plain data (it runs in a child process, one per venue); the test asserts."""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from decimal import Decimal
from typing import Any

from tests.exchange_emulator import EmulatedVenue, Emulator, FaultKind, RandomFaults, Status
from tests.exchange_emulator.orders import Order as VenueOrder
from tests.integration.ccxt_adapter.support import ACCOUNT, SYMBOL, book_totals, emulator, started
from tests.integration.ccxt_adapter.support import venue_for as adapter_for

from tradeforge.adapters.ccxt import VENUES as CAPABILITIES
from tradeforge.adapters.ccxt import BreakerConfig, BreakerState, CcxtVenueConfig
from tradeforge.adapters.memory.store import InMemoryStore
from tradeforge.domain.errors import TradeForgeError
from tradeforge.domain.fills import OrderSide
from tradeforge.domain.orders import Order, OrderStatus, OrderType, TimeInForce
from tradeforge.engine.reconciliation_report import ReconciliationReport
from tradeforge.engine.risk_rules import TradingState

from .support import TEST_CONFIG, ReconSystem

# Per request: one roll against the request faults, one per out-of-band kind against an open order.
FAULT_RATES = {
    FaultKind.TIMEOUT: 0.02,
    FaultKind.DROP: 0.02,
    FaultKind.SERVER_ERROR: 0.03,
    FaultKind.RATE_LIMIT: 0.002,
    FaultKind.OOB_PARTIAL_FILL: 0.01,
    FaultKind.OOB_FILL: 0.006,
    FaultKind.OOB_CANCEL: 0.006,
}
BALANCES = {"USDT": Decimal("50000000"), "BTC": Decimal("500"), "ETH": Decimal("5000")}
START_PRICE = Decimal("86000")
BATCH = 48  # actions sent at once per round (their venue requests overlap)
MAX_WORKING = 40  # bybit lists 20 open orders a page, okx 100: more are looked up one by one
STALL_S = 120.0  # a venue that cannot get back to ACTIVE for this long fails the soak
# Kraken lists trades by time only: following an order reads every trade since its creation minus
# trade_lookback_ms (meant for clock skew); the emulator shares our clock, so 5 s is plenty.
ADAPTER_CONFIG = CcxtVenueConfig(poll_interval_ms=0, balance_interval_ms=0, trade_lookback_ms=5_000)
RECONCILER_CONFIG = replace(TEST_CONFIG, interval_s=0.25, retry_interval_s=0.1)
# Bursts of client timeouts under load can trip the breaker; a short cool-down keeps such a trip (and
# the reconnect run after it) cheap.
BREAKER = BreakerConfig(failure_threshold=50, cool_down_s=2)
RECONNECT_S = 30.0  # beyond the cool-down, for a breaker to close once the faults ended
# The emulator's final status -> what the books may say. A cancelled venue order ends expired in the
# books when it was IOC, or (bybit: ccxt reads PartiallyFilledCanceled as "closed") partly filled.
VENUE_STATUS = {
    Status.NEW: {OrderStatus.OPEN},
    Status.UNTRIGGERED: {OrderStatus.OPEN},
    Status.PARTIALLY_FILLED: {OrderStatus.PARTIALLY_FILLED},
    Status.FILLED: {OrderStatus.FILLED},
    Status.CANCELED: {OrderStatus.CANCELLED, OrderStatus.EXPIRED},
    Status.EXPIRED: {OrderStatus.EXPIRED, OrderStatus.CANCELLED},
}


@dataclass
class SoakResult:
    venue: str
    seed: int
    orders_submitted: int = 0
    orders_on_venue: int = 0  # distinct client ids the emulator holds
    gate_rejected: int = 0  # refused by the venue gate (the flow pauses while the venue is held)
    gate_holds: int = 0  # times a run found something and held the venue (REDUCING/HALTED)
    venue_rejected: int = 0
    amends: int = 0
    cancels: int = 0
    fills: int = 0
    runs: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    corrections: dict[str, int] = field(default_factory=dict)
    final_corrections: dict[str, int] = field(default_factory=dict)
    final_discrepancies: list[str] = field(default_factory=list)
    duplicated_orders: int = 0
    problems: list[str] = field(default_factory=list)
    errors_logged: list[str] = field(default_factory=list)
    refusals: dict[str, int] = field(default_factory=dict)  # why orders were refused, most common
    gate_states: dict[str, int] = field(default_factory=dict)  # the venue gate's changes, counted
    breaker_transitions: int = 0
    runs_by_trigger: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


class _Errors(logging.Handler):
    """Collects ERROR records (an anomaly the adapter or the OMS logged): the soak expects none."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(f"{record.name}: {record.getMessage()}"[:300])


def run_soak(venue: str, orders: int, seed: int) -> dict[str, Any]:
    """One venue's soak on a fresh event loop; the result as a dict (picklable)."""
    errors = _Errors()
    root = logging.getLogger()
    root.addHandler(errors)
    started_at = time.perf_counter()
    result = SoakResult(venue, seed)
    try:
        asyncio.run(_soak(venue, orders, seed, result))
    finally:
        root.removeHandler(errors)
    result.errors_logged = errors.messages[:20]
    result.seconds = round(time.perf_counter() - started_at, 1)
    return asdict(result)


async def _soak(venue: str, target: int, seed: int, result: SoakResult) -> None:
    async with (
        emulator(venue, balances=BALANCES) as emu,
        started(adapter_for(emu, venue, timeout_ms=300, config=ADAPTER_CONFIG, breaker=BREAKER)) as adapter,
    ):
        system = ReconSystem.build(adapter, InMemoryStore(), RECONCILER_CONFIG)
        actions = _Actions(system, random.Random(f"{seed}-{venue}"), result)
        await _trade(emu, system, actions, target, result)
        emu.faults.randomize(None)
        await system.reconciler.stop()
        await _reconnected(system, result)
        for _ in range(2):  # the venue is healthy again
            await system.settle()
        final = await system.reconciler.reconcile("final")
        check = await system.reconciler.reconcile("check")
        _summarize(emu, system, result)
        result.final_corrections = final.correction_counts()
        result.final_discrepancies = [f"{d.kind.value} {d.target}: {d.detail}" for d in final.discrepancies]
        _compare(system, emu.venue(venue), actions, result, final, check)
        emu.venue(venue).state.check_invariants()


async def _trade(
    emu: Emulator, system: ReconSystem, actions: _Actions, target: int, result: SoakResult
) -> None:
    """Rounds of BATCH random actions until `target` client ids reached the venue; the market moves
    after each round; the reconciler runs on its own schedule meanwhile."""
    adapter, handle = system.venue, emu.venue(system.venue.name)
    price = START_PRICE
    handle.set_price(SYMBOL, price)
    start = await system.reconciler.recover()
    assert start.failed is None, start.failed
    system.reconciler.start()
    emu.faults.randomize(RandomFaults(seed=result.seed, rates=FAULT_RATES, hold_s=0.6))
    active_at = time.monotonic()  # a slow host takes longer overall; only a stall is a failure
    while len({o.client_order_id for o in handle.state.orders.values()}) < target:
        if system.state() is not TradingState.ACTIVE:  # as a strategy would: no new exposure
            if time.monotonic() - active_at > STALL_S:
                result.problems.append(
                    f"stalled: gate {system.gate.snapshot()}, breaker {adapter.breaker_snapshot()}"
                )
                return
            await adapter.poll()  # the runtime's on_time goes on (it resolves unknown creates)
            await asyncio.sleep(0.02)
            continue
        active_at = time.monotonic()
        for _ in range(BATCH):
            actions.act(price)
        await adapter.drain()
        price += Decimal(actions.rng.randrange(-400, 401))
        handle.set_price(SYMBOL, price)  # resting orders the market reaches fill
        await adapter.poll()  # the runtime's on_time
        await adapter.drain()


async def _reconnected(system: ReconSystem, result: SoakResult) -> None:
    """The faults are over, but a breaker the last of them opened stays open for its cool-down: poll
    (the runtime's on_time probes a half-open breaker) until it has closed, as a runtime would."""
    adapter = system.venue
    deadline = time.monotonic() + BREAKER.cool_down_s + RECONNECT_S
    while adapter.breaker_snapshot().state is not BreakerState.CLOSED:
        if time.monotonic() > deadline:
            result.problems.append(f"no reconnect once the faults ended: {adapter.breaker_snapshot()}")
            return
        await adapter.poll()
        await asyncio.sleep(0.05)


class _Actions:
    """The random order flow: market, limit (resting or crossing), IOC, stop-limit, cancels, amends."""

    def __init__(self, system: ReconSystem, rng: random.Random, result: SoakResult) -> None:
        self.system = system
        self.rng = rng
        self.result = result
        self.submitted: list[Order] = []
        self.amended: Counter[str] = Counter()
        self.cancelling: set[str] = set()

    def act(self, price: Decimal) -> None:
        system, rng, result = self.system, self.rng, self.result
        working = [o for o in system.cache.all_working() if o.status is not OrderStatus.PENDING]
        cancellable = [o for o in working if o.id not in self.cancelling]
        roll = rng.random()
        side = rng.choice([OrderSide.BUY, OrderSide.SELL])
        sign = 1 if side is OrderSide.BUY else -1
        try:
            if cancellable and (roll < 0.12 or len(working) > MAX_WORKING):
                target = (
                    rng.choice(cancellable) if roll < 0.12 else min(cancellable, key=lambda o: o.created_at)
                )
                self.cancelling.add(target.id)
                system.cancel(target)
                result.cancels += 1
                return
            limits = [o for o in cancellable if o.type is OrderType.LIMIT]
            if limits and roll < 0.2:
                target = rng.choice(limits)
                assert target.price is not None
                quantity = target.quantity + Decimal("0.01")
                system.amend(
                    target, quantity=str(quantity), price=str(target.price + rng.randrange(-100, 101))
                )
                self.amended[target.id] += 1
                result.amends += 1
                return
            if roll < 0.4:
                order = system.submit(OrderType.MARKET, side, "0.01")
            elif roll < 0.48:  # a stop-limit the random walk may trigger
                stop = price + sign * rng.randrange(200, 900)
                order = system.submit(
                    OrderType.STOP_LIMIT, side, "0.01", str(stop + sign * 50), stop=str(stop)
                )
            elif roll < 0.53:
                offset = rng.randrange(-200, 200)
                order = system.submit(OrderType.LIMIT, side, "0.02", str(price + offset), tif=TimeInForce.IOC)
            else:
                offset = rng.randrange(-300, 1500) * -sign
                order = system.submit(OrderType.LIMIT, side, "0.02", str(price + offset))
        except TradeForgeError:  # an amend or cancel the order's state no longer allows
            return
        self.submitted.append(order)
        if order.status is OrderStatus.REJECTED and (order.reject_reason or "").startswith("trading is"):
            result.gate_rejected += 1


def _summarize(emu: Emulator, system: ReconSystem, result: SoakResult) -> None:
    venue = system.venue
    state = emu.venue(venue.name).state
    result.runs = system.reconciler.runs
    result.runs_by_trigger = dict(Counter(e.trigger for e in system.runs_completed()))
    result.breaker_transitions = venue.breaker_snapshot().transitions
    result.faults = emu.faults.summary().get(venue.name, {})
    result.corrections = dict(sorted(system.reconciler.books.totals.items()))
    result.orders_on_venue = len({o.client_order_id for o in state.orders.values()})
    result.fills = len(state.fills)
    changes = system.gate_changes()
    result.gate_states = dict(Counter(f"{e.state}: {e.reason[:50]}" for e in changes))
    result.gate_holds = sum(1 for e in changes[1:] if e.state != TradingState.ACTIVE.value)


def _reason(order: Order) -> str:
    """A rejection reason without the order's own numbers."""
    reason = order.reject_reason or ""
    return reason.split(":")[0] if reason.startswith("trading is") else reason[:60]


def _act(
    system: ReconSystem,
    rng: random.Random,
    price: Decimal,
    submitted: list[Order],
    amended: Counter[str],
    cancelling: set[str],
    result: SoakResult,
) -> None:
    working = [o for o in system.cache.all_working() if o.status is not OrderStatus.PENDING]
    cancellable = [o for o in working if o.id not in cancelling]
    roll = rng.random()
    side = rng.choice([OrderSide.BUY, OrderSide.SELL])
    sign = 1 if side is OrderSide.BUY else -1
    try:
        if cancellable and (roll < 0.12 or len(working) > MAX_WORKING):
            target = rng.choice(cancellable) if roll < 0.12 else min(cancellable, key=lambda o: o.created_at)
            cancelling.add(target.id)
            system.cancel(target)
            result.cancels += 1
            return
        limits = [o for o in working if o.type is OrderType.LIMIT]
        if limits and roll < 0.2:
            target = rng.choice(limits)
            assert target.price is not None
            quantity = target.quantity + Decimal("0.01")
            system.amend(target, quantity=str(quantity), price=str(target.price + rng.randrange(-100, 101)))
            amended[target.id] += 1
            result.amends += 1
            return
        if roll < 0.4:
            order = system.submit(OrderType.MARKET, side, "0.01")
        elif roll < 0.48:  # a stop-limit the random walk may trigger
            stop = price + sign * rng.randrange(200, 900)
            order = system.submit(OrderType.STOP_LIMIT, side, "0.01", str(stop + sign * 50), stop=str(stop))
        elif roll < 0.53:
            offset = rng.randrange(-200, 200)
            order = system.submit(OrderType.LIMIT, side, "0.02", str(price + offset), tif=TimeInForce.IOC)
        else:
            offset = rng.randrange(-300, 1500) * -sign
            order = system.submit(OrderType.LIMIT, side, "0.02", str(price + offset))
    except TradeForgeError:  # an amend or cancel the order's state no longer allows
        return
    submitted.append(order)
    reason = order.reject_reason or ""
    if order.status is OrderStatus.REJECTED and reason.startswith("trading is"):
        result.gate_rejected += 1


def _compare(
    system: ReconSystem,
    handle: EmulatedVenue,
    actions: _Actions,
    result: SoakResult,
    final: ReconciliationReport,
    check: ReconciliationReport,
) -> None:
    """Orders, fills, balances and positions against the emulator's books; every difference is a problem."""
    venue, state, problems = result.venue, handle.state, result.problems
    submitted, amended = actions.submitted, actions.amended
    result.orders_submitted = len(submitted)
    refused = Counter(_reason(o) for o in submitted if o.status is OrderStatus.REJECTED)
    result.refusals = dict(refused.most_common(4))
    rule = CAPABILITIES[venue].client_id
    native = CAPABILITIES[venue].amend_style.value == "native"
    if final.failed or final.discrepancies:
        problems.append(f"final reconciliation: failed={final.failed} open={result.final_discrepancies}")
    if check.corrections or check.discrepancies or check.failed:
        problems.append(
            f"a second run still corrected {check.correction_counts()} / {check.discrepancy_counts()}"
        )
    if system.venue.unresolved_orders():
        problems.append(f"unresolved creates: {system.venue.unresolved_orders()}")
    copies: dict[str, list[VenueOrder]] = {}
    for venue_order in state.orders.values():
        copies.setdefault(venue_order.client_order_id or "", []).append(venue_order)
    ours = {rule.venue_id(o.client_order_id) for o in submitted}
    strays = sorted(set(copies) - ours)
    if strays:
        problems.append(f"venue orders no local order accounts for: {strays[:5]}")
    open_status = {Status.NEW, Status.UNTRIGGERED, Status.PARTIALLY_FILLED}
    for order in submitted:
        found = sorted(copies.get(rule.venue_id(order.client_order_id), []), key=lambda o: o.seq)
        if order.status is OrderStatus.REJECTED:
            result.venue_rejected += not (order.reject_reason or "").startswith("trading is")
            if found:
                problems.append(
                    f"{order.id} rejected locally but on the venue as {[o.order_id for o in found]}"
                )
            continue
        if not found:
            problems.append(f"{order.id} ({order.status.value}) is not on the venue")
            continue
        live = found[-1]
        filled = sum((o.filled for o in found), Decimal(0))
        # Native amends keep one venue order. Binance amends (and the adapter's shrink after one)
        # cancel-replace: each earlier copy must have been cancelled by the time the next began.
        pairs = list(itertools.pairwise(found))
        overlap = any(a.status is not Status.CANCELED or a.updated_ms > b.created_ms for a, b in pairs)
        if (native and len(found) > 1) or overlap:
            result.duplicated_orders += 1
            states = [(o.order_id, o.status.value, str(o.filled), o.created_ms, o.updated_ms) for o in found]
            problems.append(f"{order.id}: {len(found)} venue orders, {amended[order.id]} amends: {states}")
        if order.venue_order_id != found[0].order_id:
            problems.append(f"{order.id}: venue id {order.venue_order_id}, first copy {found[0].order_id}")
        if order.filled_quantity != filled:
            problems.append(f"{order.id}: filled {order.filled_quantity}, venue {filled}")
        allowed = VENUE_STATUS[live.status]
        if live.status in open_status and filled:  # fills of copies an amend replaced count too
            allowed = {OrderStatus.PARTIALLY_FILLED}
        if order.status not in allowed:
            problems.append(f"{order.id}: {order.status.value}, venue {live.status.value}")
        elif order.is_working and order.remaining != live.quantity - live.filled:
            problems.append(f"{order.id}: remaining {order.remaining}, venue {live.quantity - live.filled}")
    booked = {f.fill_id: (f.side.value, f.quantity, f.price, f.fee, f.fee_asset) for f in system.fills}
    if len(booked) != len(system.fills):
        problems.append("a fill was booked twice")
    venue_fills = {
        f"{venue}:{f.trade_id}": (f.side.value, f.quantity, f.price, f.fee, f.fee_asset) for f in state.fills
    }
    if booked != venue_fills:
        missing, phantom = venue_fills.keys() - booked.keys(), booked.keys() - venue_fills.keys()
        differ = [k for k in booked.keys() & venue_fills.keys() if booked[k] != venue_fills[k]]
        problems.append(
            f"fills: missing {sorted(missing)[:5]}, phantom {sorted(phantom)[:5]}, differ {differ[:5]}"
        )
    books = book_totals(system.portfolio.balances(ACCOUNT))
    venue_books = {asset: b.total for asset, b in state.balances.items() if b.total}
    if books != venue_books:
        problems.append(f"balances: books {books}, venue {venue_books}")
    for symbol in state.instruments:
        signed = sum(
            (f.quantity if f.side.value == "buy" else -f.quantity for f in state.fills if f.symbol == symbol),
            Decimal(0),
        )
        position = system.portfolio.position_quantity(ACCOUNT, symbol)
        if position != signed:
            problems.append(f"position {symbol}: books {position}, venue trades add up to {signed}")


__all__ = ["SoakResult", "run_soak"]
