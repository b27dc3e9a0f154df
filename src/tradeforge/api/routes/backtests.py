"""Backtests: run one as a background job, follow its status, download its report and results."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from tradeforge.api.deps import Trader, Viewer
from tradeforge.api.errors import problem_responses
from tradeforge.api.routing import ExactJSONRoute
from tradeforge.api.schemas import NonNegativeDecimal, PositiveDecimal, SymbolText
from tradeforge.domain.errors import ValidationError
from tradeforge.runtime.backtest_jobs import BacktestJobs, BacktestRequest, JobNotFound, JobStatus
from tradeforge.runtime.settings import Settings

router = APIRouter(prefix="/api/v1/backtests", tags=["backtests"], route_class=ExactJSONRoute)

JobIdPath = Annotated[str, Path(pattern=r"^B[0-9a-f]{12,40}$", description="the job's id")]


class BacktestCreate(BaseModel):
    """A backtest to run on bars the service has: the market-data store (`tradeforge data import`)
    or, failing that, a replay feed file of the same symbol and timeframe."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "strategy": "sma_cross",
                    "params": {"fast": 10, "slow": 30, "quantity": "0.1"},
                    "symbol": "BTC/USDT",
                    "timeframe": "1m",
                    "cash": "100000",
                    "fee_rate": "0.001",
                }
            ]
        },
    )

    strategy: Annotated[str, Field(min_length=1, max_length=200, description="registry name or module:Class")]
    params: dict[str, Any] = Field(default_factory=dict, description="the strategy's config fields")
    symbol: SymbolText
    timeframe: Annotated[str, Field(pattern=r"^[0-9]{1,4}[mhdw]$")] = "1m"
    venue: Annotated[str, Field(pattern=r"^[a-z0-9]{1,32}$", description="store venue of the bars")] = (
        "binance"
    )
    start: datetime | None = Field(None, description="first bar time (ISO-8601; UTC when naive)")
    end: datetime | None = Field(None, description="stop before this bar time")
    cash: PositiveDecimal = Field(default=Decimal("100000"), description="starting cash in the quote asset")
    fee_rate: NonNegativeDecimal = Field(default=Decimal("0.001"), description="fee on each fill's notional")
    slippage: Literal["none", "fixed", "volume"] = "none"
    slippage_bps: NonNegativeDecimal = Decimal("0")
    max_volume_share: PositiveDecimal | None = Field(None, description="cap fills per bar (partial fills)")
    seed: Annotated[int, Field(ge=0)] = 0


class BacktestOut(BaseModel):
    id: str
    status: JobStatus
    request: dict[str, Any]
    created_at: int
    started_at: int | None
    finished_at: int | None
    error: str | None = Field(description="why it failed (status failed)")
    summary: dict[str, Any] | None = Field(description="the `tradeforge backtest --json` object when done")
    files: list[str] = Field(description="downloadable: report.html, result.json, orders.json, fills.json")


class BacktestList(BaseModel):
    items: list[BacktestOut]


def jobs_of(request: Request) -> BacktestJobs:
    jobs: BacktestJobs | None = getattr(request.app.state, "backtests", None)
    if jobs is None:
        settings: Settings = request.app.state.settings
        jobs = request.app.state.backtests = BacktestJobs(settings.var_dir / "backtests")
    return jobs


Jobs = Annotated[BacktestJobs, Depends(jobs_of)]


def data_file(settings: Settings, body: BacktestCreate) -> FilePath:
    from tradeforge.adapters.market_data.store import ParquetBarStore

    stored = ParquetBarStore(settings.data_dir).path(body.venue, body.symbol, body.timeframe)
    if stored.exists():
        return stored
    for feed in settings.feeds:
        if feed.symbol == body.symbol and feed.timeframe == body.timeframe and feed.path.exists():
            return feed.path
    raise ValidationError(
        "symbol",
        f"no {body.timeframe} bars of {body.symbol} from {body.venue}: import some with `tradeforge data "
        "import` (or replay a feed of that symbol and timeframe)",
    )


def _ms(moment: datetime | None) -> int | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        from datetime import UTC

        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


@router.post(
    "",
    status_code=202,
    response_model=BacktestOut,
    summary="Run a backtest",
    description="Checks the strategy, its parameters and the data, then queues the run in a worker "
    "process and answers at once (202) with the job; poll GET /api/v1/backtests/{id}. Bad input is a "
    "422 naming the field.",
    responses=problem_responses(401, 403, 415, 422),
)
async def create_backtest(key: Trader, request: Request, jobs: Jobs, body: BacktestCreate) -> Any:
    from tradeforge.strategies import registry

    try:
        cls = registry.resolve(body.strategy)
    except ValidationError as error:
        raise ValidationError("body.strategy", error.message) from error
    try:
        cls(body.params)
    except ValidationError as error:
        raise ValidationError(f"body.params{error.field[len('config') :]}", error.message) from error
    from tradeforge.backtest.config import BacktestConfig

    try:
        BacktestConfig(
            strategy=body.strategy,
            cash=body.cash,
            fee_rate=body.fee_rate,
            slippage=body.slippage,
            slippage_bps=body.slippage_bps,
            max_volume_share=body.max_volume_share,
            seed=body.seed,
        )
    except ValidationError as error:
        raise ValidationError(f"body.{error.field}", error.message) from error
    path = data_file(request.app.state.settings, body)
    job = jobs.submit(
        BacktestRequest(
            strategy=body.strategy,
            params=body.params,
            symbol=body.symbol,
            timeframe=body.timeframe,
            data_file=str(path),
            start_ms=_ms(body.start),
            end_ms=_ms(body.end),
            cash=str(body.cash),
            fee_rate=str(body.fee_rate),
            slippage=body.slippage,
            slippage_bps=str(body.slippage_bps),
            max_volume_share=None if body.max_volume_share is None else str(body.max_volume_share),
            seed=body.seed,
        )
    )
    return job.to_dict()


@router.get(
    "",
    response_model=BacktestList,
    summary="List backtests",
    description="Every job this service ran or runs, newest first.",
    responses=problem_responses(401, 403),
)
async def list_backtests(key: Viewer, jobs: Jobs) -> Any:
    return {"items": [job.to_dict() for job in jobs.list()]}


@router.get(
    "/{job_id}",
    response_model=BacktestOut,
    summary="A backtest's status and result",
    description="queued, running, succeeded (with the summary and the files to download) or failed "
    "(with the error).",
    responses=problem_responses(401, 403, 404, 422),
)
async def get_backtest(key: Viewer, jobs: Jobs, job_id: JobIdPath) -> Any:
    try:
        return jobs.get(job_id).to_dict()
    except JobNotFound as error:
        raise HTTPException(404, str(error)) from error


@router.get(
    "/{job_id}/files/{name}",
    summary="Download a backtest's report or results",
    description="`report.html` (self-contained: equity, drawdown, price with trades), `result.json` "
    "(summary and round trips), `orders.json`, `fills.json`.",
    response_class=FileResponse,
    responses={
        200: {
            "content": {
                "text/html": {"schema": {"type": "string", "description": "report.html"}},
                "application/json": {"schema": {"description": "result.json, orders.json or fills.json"}},
            },
            "description": "the file",
        },
        **problem_responses(401, 403, 404, 422),
    },
)
async def backtest_file(
    key: Viewer,
    jobs: Jobs,
    job_id: JobIdPath,
    name: Annotated[str, Path(pattern=r"^(report\.html|result\.json|orders\.json|fills\.json)$")],
) -> FileResponse:
    try:
        path = jobs.file(job_id, name)
    except JobNotFound as error:
        raise HTTPException(404, str(error)) from error
    except ValidationError as error:
        raise HTTPException(404, error.message) from error
    media = "text/html" if name.endswith(".html") else "application/json"
    return FileResponse(path, media_type=media, filename=name)
