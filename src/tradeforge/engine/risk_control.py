"""Risk control commands: the kill switch (trading state) and runtime limit changes, persisted and audited."""

from __future__ import annotations

import json
from typing import Any

from tradeforge.bus import topics
from tradeforge.bus.message_bus import MessageBus
from tradeforge.domain.commands import CancelAllOrders, SetTradingState, UpdateRiskLimits
from tradeforge.domain.errors import ValidationError
from tradeforge.domain.events import RiskLimitsChanged, TradingStateChanged
from tradeforge.engine.recorder import UnitRecorder
from tradeforge.engine.risk_engine import RiskEngine
from tradeforge.engine.risk_rules import RiskLimits, TradingState

STATE_KEY = "risk.state"
LIMITS_KEY = "risk.limits"


class RiskControl:
    """Handles SetTradingState and UpdateRiskLimits. Every change is saved (so it survives a
    restart), audited with who/what/when, and published, in the same transaction."""

    def __init__(self, bus: MessageBus, risk: RiskEngine, recorder: UnitRecorder) -> None:
        self._bus = bus
        self._risk = risk
        self._recorder = recorder
        bus.register(SetTradingState, self.set_trading_state)
        bus.register(UpdateRiskLimits, self.update_limits)

    def set_trading_state(self, command: SetTradingState) -> TradingStateChanged:
        try:
            state = TradingState(command.state)
        except ValueError:
            allowed = ", ".join(s.value for s in TradingState)
            raise ValidationError("state", f"must be one of {allowed}") from None
        with self._recorder.unit():
            event = self._risk.set_state(state, command.reason, command.actor)
            self._recorder.setting(STATE_KEY, json.dumps({"state": state.value, "reason": command.reason}))
            self._recorder.audit(
                event.ts, command.actor, "risk.state", state.value, {"reason": command.reason}
            )
            self._recorder.event(topics.risk("state"), event)
            cancel = command.cancel_open_orders
            if cancel is None:
                cancel = self._risk.limits.cancel_open_orders_on_halt
            if state is TradingState.HALTED and cancel:
                self._bus.send(CancelAllOrders(account_id=None, reason=f"kill switch: {command.reason}"))
        return event

    def update_limits(self, command: UpdateRiskLimits) -> RiskLimitsChanged:
        with self._recorder.unit():
            event = self._risk.update_limits(command.changes, command.actor)
            self._recorder.setting(LIMITS_KEY, json.dumps(self._risk.limits.to_dict()))
            self._recorder.audit(event.ts, command.actor, "risk.limits", "limits", event.changes)
            self._recorder.event(topics.risk("limits"), event)
        return event


def restore_risk(
    stored_state: str | None, stored_limits: str | None, defaults: RiskLimits
) -> tuple[RiskLimits, TradingState, str]:
    """Risk limits and trading state as saved by the last run, or the configured defaults."""
    limits = RiskLimits.from_dict(json.loads(stored_limits)) if stored_limits else defaults
    state, reason = TradingState.ACTIVE, ""
    if stored_state:
        saved: dict[str, Any] = json.loads(stored_state)
        state, reason = TradingState(saved["state"]), str(saved.get("reason", ""))
    return limits, state, reason
