"""Reconciliation of live venues: each one's trading state and last run, runs on demand, acknowledgements."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from tradeforge.api.deps import RiskAdmin, Service, Viewer, actor
from tradeforge.api.errors import problem_responses
from tradeforge.api.routing import ExactJSONRoute

router = APIRouter(prefix="/api/v1/reconciliation", tags=["reconciliation"], route_class=ExactJSONRoute)

VenueName = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,31}$", description="a live venue, e.g. binance")]


class CorrectionOut(BaseModel):
    kind: str = Field(
        description="fill, order_accepted, order_status, order_amended, order_adopted, local_only, balance"
    )
    target: str
    reason: str
    before: dict[str, Any]
    after: dict[str, Any]


class DiscrepancyOut(BaseModel):
    kind: str
    key: str = Field(description="what POST .../acknowledgements takes")
    target: str
    detail: str
    severity: str = Field(description="info (left alone), retry (REDUCING until cleared), halt")


class ReportOut(BaseModel):
    trigger: str = Field(description="start, periodic, reconnect, restarted, manual, acknowledged")
    started_ms: int
    finished_ms: int
    state: str = Field(description="the trading state the run left the venue in")
    failed: str | None = Field(description="why the venue could not be read, if it could not")
    orders_checked: int
    fills_checked: int
    balances_checked: bool
    corrections: list[CorrectionOut]
    discrepancies: list[DiscrepancyOut] = Field(description="left open at the end of the run")


class VenueReconciliationOut(BaseModel):
    venue: str
    account_id: str = Field(description="the account this venue books into")
    trading: str = Field(description="active, reducing (only orders that shrink a position) or halted")
    reason: str
    compares_balances: bool = Field(
        description="balances and positions are compared only when the venue is alone in its account"
    )
    runs: int
    last_report: ReportOut | None


class AcknowledgementIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(min_length=1, max_length=300, description="a discrepancy's key, from the last report")
    reason: str = Field(min_length=1, max_length=500, description="why it is accepted (audited)")


@router.get(
    "",
    response_model=list[VenueReconciliationOut],
    summary="Reconciliation status",
    description="Per live venue: its trading state and why, its account, and its last reconciliation run "
    "with the corrections made and the discrepancies left open. Empty without live venues.",
    responses=problem_responses(401, 403),
)
async def reconciliation_status(key: Viewer, service: Service) -> Any:
    return service.reconciliation_status()


@router.post(
    "/{venue}/runs",
    response_model=VenueReconciliationOut,
    summary="Reconcile a venue now",
    description="Runs a reconciliation of the venue at once (after a run already under way) and answers "
    "with its outcome. Needs an admin key; the request is audited.",
    responses=problem_responses(401, 403, 404, 422),
)
async def run_reconciliation(venue: VenueName, key: RiskAdmin, service: Service) -> Any:
    return await service.reconcile(venue, actor(key))


@router.post(
    "/{venue}/acknowledgements",
    response_model=VenueReconciliationOut,
    summary="Acknowledge a discrepancy",
    description="Accepts a discrepancy that halts the venue (its key from the last report), so it no "
    "longer holds trading; a run follows at once. Needs an admin key; audited with the reason.",
    responses=problem_responses(401, 403, 404, 415, 422),
)
async def acknowledge(venue: VenueName, body: AcknowledgementIn, key: RiskAdmin, service: Service) -> Any:
    return await service.acknowledge_discrepancy(venue, body.key, body.reason, actor(key))
