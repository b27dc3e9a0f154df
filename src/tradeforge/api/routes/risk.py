"""Risk: status, limits, the kill switch and the trading state (changes need an admin key)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from tradeforge.api.deps import RiskAdmin, Service, Viewer, actor
from tradeforge.api.errors import problem_responses
from tradeforge.api.routing import ExactJSONRoute
from tradeforge.api.schemas import (
    KillSwitchRequest,
    RiskLimitsOut,
    RiskLimitsPatch,
    RiskStatusOut,
    TradingStateRequest,
)

router = APIRouter(prefix="/api/v1/risk", tags=["risk"], route_class=ExactJSONRoute)
_CHANGE_ERRORS = problem_responses(401, 403, 415, 422, 503)


@router.get(
    "/status",
    response_model=RiskStatusOut,
    summary="Risk status",
    description="Trading state with its reason, the limits in force and the submit throttle's usage.",
    responses=problem_responses(401, 403),
)
async def risk_status(key: Viewer, service: Service) -> Any:
    return service.risk_status()


@router.get(
    "/limits",
    response_model=RiskLimitsOut,
    summary="Risk limits",
    description="The pre-trade limits in force: defaults, per-symbol overrides, price band, throttles.",
    responses=problem_responses(401, 403),
)
async def get_limits(key: Viewer, service: Service) -> Any:
    return service.risk_limits()


@router.put(
    "/limits",
    response_model=RiskLimitsOut,
    summary="Change risk limits",
    description="Applies a partial update (JSON merge patch semantics) atomically: an invalid field changes "
    "nothing and is named in the 422. The change is saved, audited and published.",
    responses=_CHANGE_ERRORS,
)
async def update_limits(key: RiskAdmin, service: Service, patch: RiskLimitsPatch) -> Any:
    return await service.update_risk_limits(patch.changes(), actor(key))


@router.post(
    "/kill-switch",
    response_model=RiskStatusOut,
    summary="Engage or release the kill switch",
    description="Engaged halts trading (every new order is rejected with the reason) and, unless "
    "`cancel_open_orders` is false (null follows the limit cancel_open_orders_on_halt), cancels working "
    "orders. Released returns to active trading.",
    responses=_CHANGE_ERRORS,
)
async def kill_switch(key: RiskAdmin, service: Service, body: KillSwitchRequest) -> Any:
    return await service.set_kill_switch(body.engaged, body.reason, actor(key), body.cancel_open_orders)


@router.post(
    "/state",
    response_model=RiskStatusOut,
    summary="Set the trading state",
    description="active trades normally, reducing accepts only orders that shrink a position, halted "
    "refuses every new order.",
    responses=_CHANGE_ERRORS,
)
async def set_state(key: RiskAdmin, service: Service, body: TradingStateRequest) -> Any:
    return await service.set_trading_state(body.state.value, body.reason, actor(key))
