"""Pre-trade risk engine: trading state, current limits and the submit throttle around the pure rules."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from tradeforge.domain.errors import ValidationError
from tradeforge.domain.events import RiskLimitsChanged, TradingStateChanged
from tradeforge.domain.orders import Order
from tradeforge.domain.values import ZERO
from tradeforge.engine.risk_rules import (
    THROTTLE_WINDOW_MS,
    RiskLimits,
    RiskView,
    TradingState,
    check_available_balance,
    check_max_open_orders,
    check_max_order_notional,
    check_max_order_quantity,
    check_max_position,
    check_price_band,
    check_throttle,
    check_trading_state,
)
from tradeforge.ports.clock import Clock

RULE_ORDER = (
    "trading_state",
    "throttle",
    "max_order_quantity",
    "price_band",
    "max_order_notional",
    "max_position",
    "max_open_orders",
    "available_balance",
)


class RiskEngine:
    """Checks each new (or amended) order against every rule in RULE_ORDER; the first failure wins.

    Designed to be called on the engine's thread; state and limits are swapped as whole immutable
    values, so a reader never sees half an update."""

    def __init__(
        self,
        limits: RiskLimits,
        view: RiskView,
        clock: Clock,
        state: TradingState = TradingState.ACTIVE,
        state_reason: str = "",
    ) -> None:
        self._limits = limits
        self._view = view
        self._clock = clock
        # One tuple so a reader never pairs a new state with an old reason.
        self._trading = (TradingState(state), state_reason)
        # Accept times (clock ms) of each account's orders still inside the throttle window.
        self._submits: dict[str, deque[int]] = {}
        self._lock = threading.Lock()

    @property
    def state(self) -> TradingState:
        return self._trading[0]

    @property
    def state_reason(self) -> str:
        return self._trading[1]

    @property
    def limits(self) -> RiskLimits:
        return self._limits

    def check(self, order: Order) -> str | None:
        """The rejection reason, or None when the order may go to the venue (it is then counted by
        the throttle). Each input is read from the view at most once and shared by the rules."""
        limits = self._limits
        state, state_reason = self._trading
        view = self._view
        if state is TradingState.HALTED:
            return check_trading_state(order, limits, view, state=state, reason=state_reason)
        now = self._clock.now_ms()
        window = self._submits.get(order.account_id)
        if window is None:
            window = self._submits[order.account_id] = deque()
        else:
            edge = now - THROTTLE_WINDOW_MS
            while window and window[0] <= edge:
                window.popleft()
        symbol_limits = limits.for_symbol(order.symbol)
        position = ZERO
        working: Sequence[Order] = ()
        reducing = state is TradingState.REDUCING
        if reducing:
            position = view.position_quantity(order.account_id, order.symbol)
            working = view.working_orders(order.account_id)
            reason = check_trading_state(
                order, limits, view, state=state, reason=state_reason, position=position, working=working
            )
            if reason is not None:
                return reason
        reason = check_throttle(order, limits, view, submits_in_window=len(window))
        if reason is None:
            reason = check_max_order_quantity(order, limits, view, symbol_limits=symbol_limits)
        if reason is not None:
            return reason
        if not reducing:
            # Fetched only when a rule will use them; working_orders may build a list per call.
            needs_position = symbol_limits.max_position is not None
            if needs_position:
                position = view.position_quantity(order.account_id, order.symbol)
            if needs_position or limits.max_open_orders is not None:
                working = view.working_orders(order.account_id)
        last_price = view.last_price(order.symbol)
        reason = (
            check_price_band(order, limits, view, last_price=last_price)
            or check_max_order_notional(
                order, limits, view, symbol_limits=symbol_limits, last_price=last_price
            )
            or check_max_position(
                order, limits, view, symbol_limits=symbol_limits, position=position, working=working
            )
            or check_max_open_orders(order, limits, view, working=working)
            or check_available_balance(order, limits, view, last_price=last_price)
        )
        if reason is None:
            window.append(now)
        return reason

    def set_state(self, state: TradingState | str, reason: str, actor: str) -> TradingStateChanged:
        """Switch trading state (the kill switch is HALTED). Cancelling working orders on a halt is the
        OMS's job, guided by limits.cancel_open_orders_on_halt."""
        try:
            new_state = TradingState(state)
        except ValueError:
            allowed = ", ".join(s.value for s in TradingState)
            raise ValidationError("state", f"must be one of {allowed}") from None
        with self._lock:
            self._trading = (new_state, reason)
            return TradingStateChanged(
                ts=self._clock.now_ms(), state=new_state.value, reason=reason, actor=actor
            )

    def update_limits(self, changes: Mapping[str, Any], actor: str) -> RiskLimitsChanged:
        """Apply a partial update (see RiskLimits.merged). Invalid input raises ValidationError and
        changes nothing. The event's before/after are themselves patches: applying `before` undoes it."""
        with self._lock:
            old = self._limits
            new = old.merged(changes)
            self._limits = new
            before, after = _diff(old.to_dict(), new.to_dict())
            return RiskLimitsChanged(
                ts=self._clock.now_ms(), actor=actor, changes={"before": before, "after": after}
            )

    def status(self) -> dict[str, Any]:
        limits = self._limits
        state, reason = self._trading
        edge = self._clock.now_ms() - THROTTLE_WINDOW_MS
        usage: dict[str, int] = {}
        # Snapshots (list/tuple of builtins are copied without running Python code) keep this safe to
        # call from another thread while check() appends.
        for account_id, window in list(self._submits.items()):
            count = sum(1 for ts in tuple(window) if ts > edge)
            if count:
                usage[account_id] = count
        return {
            "state": state.value,
            "reason": reason,
            "limits": limits.to_dict(),
            "throttle": {
                "window_ms": THROTTLE_WINDOW_MS,
                "max_submits_per_second": limits.max_submits_per_second,
                "submits_in_window": dict(sorted(usage.items())),
            },
        }


def _diff(old: dict[str, Any], new: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Changed keys only, as merge patches: nested objects (default, per_symbol) down to the changed
    fields or symbols, a symbol present on one side only shown as null on the other."""
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for key, old_value in old.items():
        new_value = new[key]
        if old_value == new_value:
            continue
        if key == "default":
            before[key] = {k: v for k, v in old_value.items() if new_value[k] != v}
            after[key] = {k: new_value[k] for k in before[key]}
        elif key == "per_symbol":
            symbols = [
                s for s in sorted(old_value.keys() | new_value.keys()) if old_value.get(s) != new_value.get(s)
            ]
            before[key] = {s: old_value.get(s) for s in symbols}
            after[key] = {s: new_value.get(s) for s in symbols}
        else:
            before[key] = old_value
            after[key] = new_value
    return before, after
