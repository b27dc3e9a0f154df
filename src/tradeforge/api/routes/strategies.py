"""Strategies: list the hosted ones with their PnL, list the available ones, add and start, stop, start."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from tradeforge.api.deps import Service, Trader, Viewer
from tradeforge.api.errors import problem_responses
from tradeforge.api.routing import ExactJSONRoute
from tradeforge.api.schemas import DecimalStr, SymbolText
from tradeforge.strategies.runner import StrategyStatus

router = APIRouter(prefix="/api/v1/strategies", tags=["strategies"], route_class=ExactJSONRoute)

STRATEGY_ID_PATTERN = r"^[A-Za-z0-9_\-]{1,24}$"
StrategyIdPath = Annotated[
    str, Path(pattern=STRATEGY_ID_PATTERN, description="the strategy's id", examples=["demo-sma"])
]


class StrategyRequest(BaseModel):
    """A strategy to add and start. `params` are the strategy's config fields (see /available)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "sma-eth",
                    "name": "sma_cross",
                    "symbols": ["ETH/USDT"],
                    "timeframe": "1m",
                    "params": {"fast": 5, "slow": 20, "quantity": "0.1"},
                }
            ]
        },
    )

    id: Annotated[str, Field(pattern=STRATEGY_ID_PATTERN, description="orders carry it as strategy_id")]
    name: Annotated[
        str, Field(min_length=1, max_length=200, description="registry name (sma_cross) or module:Class")
    ]
    symbols: Annotated[list[SymbolText], Field(min_length=1, max_length=50)]
    timeframe: Annotated[str, Field(pattern=r"^[0-9]{1,4}[smhdwM]$")] = "1m"
    params: dict[str, Any] = Field(default_factory=dict)


class StrategyOut(BaseModel):
    id: str
    name: str
    status: StrategyStatus
    error: str | None = Field(description="why it failed (status failed)")
    symbols: list[str]
    timeframe: str
    positions: dict[str, DecimalStr] = Field(description="the strategy's own net quantity per symbol")
    realized_pnl: DecimalStr = Field(description="from its own fills, average cost, fees apart")
    unrealized_pnl: DecimalStr = Field(description="its own net quantity marked at the last price")
    fees: DecimalStr
    fills: int = Field(description="its fills seen since the service started")


class StrategyList(BaseModel):
    items: list[StrategyOut]


class StrategyParam(BaseModel):
    name: str
    type: str
    default: str | None
    required: bool


class StrategyInfoOut(BaseModel):
    name: str
    description: str
    source: str = Field(description="builtin or entry_point")
    target: str = Field(description="package.module:Class")
    config: list[StrategyParam]


class StrategyInfoList(BaseModel):
    items: list[StrategyInfoOut]


_CHANGE_ERRORS = problem_responses(401, 403, 404, 422, 503)


@router.get(
    "",
    response_model=StrategyList,
    summary="List strategies",
    description="Every added strategy with its status and its own PnL, fees and positions (in memory, "
    "from the fills seen since the service started).",
    responses=problem_responses(401, 403),
)
async def list_strategies(key: Viewer, service: Service) -> Any:
    return {"items": service.strategies()}


@router.get(
    "/available",
    response_model=StrategyInfoList,
    summary="Available strategies",
    description="Built-ins and installed entry points (group tradeforge.strategies) with their parameters.",
    responses=problem_responses(401, 403),
)
async def available_strategies(key: Viewer, service: Service) -> Any:
    return {"items": service.available_strategies()}


@router.post(
    "",
    status_code=201,
    response_model=StrategyOut,
    summary="Add and start a strategy",
    description="Resolves `name`, builds its config from `params`, adds it for `symbols` and starts it; "
    "answers once stored. An unknown name, parameter or symbol is a 422 naming the field; an id "
    "already added is a conflict (409).",
    responses=problem_responses(401, 403, 409, 415, 422, 503),
)
async def add_strategy(key: Trader, service: Service, body: StrategyRequest) -> Any:
    return await service.add_strategy(body.id, body.name, tuple(body.symbols), body.timeframe, body.params)


@router.post(
    "/{strategy_id}/stop",
    response_model=StrategyOut,
    summary="Stop a strategy",
    description="Calls its on_stop, saves its state and cancels its working orders. Its position stays.",
    responses=_CHANGE_ERRORS,
)
async def stop_strategy(key: Trader, service: Service, strategy_id: StrategyIdPath) -> Any:
    return await service.stop_strategy(strategy_id)


@router.post(
    "/{strategy_id}/start",
    response_model=StrategyOut,
    summary="Start a strategy",
    description="Starts a stopped (or failed) strategy again with its saved state; a running one is "
    "answered as is.",
    responses=_CHANGE_ERRORS,
)
async def start_strategy(key: Trader, service: Service, strategy_id: StrategyIdPath) -> Any:
    return await service.start_strategy(strategy_id)
