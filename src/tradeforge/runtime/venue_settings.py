"""Settings of the live (ccxt) venues the service trades on next to the paper venue, and of routing.

Kept apart from settings.py so that the venue part of the configuration has one owner; it imports
only pydantic (the CLI reads settings on every command, ccxt is loaded only when venues start).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

# The venues the ccxt adapter supports (tradeforge.adapters.ccxt.capabilities.VENUES, not imported
# here: that would load ccxt for every CLI command).
LIVE_VENUES = ("binance", "bybit", "okx", "kraken")
NO_SANDBOX = frozenset({"kraken"})
RETIRED = {"ftx": "FTX is not supported: the exchange closed in November 2022"}


class VenueSettings(BaseModel):
    """One exchange account the service trades on, e.g.
    `{name = "binance", sandbox = true, credentials = "main"}`: its API key is the stored credential
    binance/main (`tradeforge credentials add --venue binance --label main`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="binance, bybit, okx or kraken")
    sandbox: bool = Field(
        True, description="the venue's testnet/demo (kraken has none: set false to trade live)"
    )
    credentials: str = Field(
        "main", pattern=r"^[A-Za-z0-9_.\-]{1,64}$", description="label of the stored credential to sign with"
    )
    enabled: bool = Field(True, description="false: configured but not connected")
    account_id: str | None = Field(
        None, pattern=r"^[A-Za-z0-9_\-]{1,32}$", description="account its fills book to (default: account_id)"
    )
    symbols: tuple[str, ...] = Field(
        (), description="markets to trade there (default: the symbols of `instruments`)"
    )
    timeout_ms: int = Field(10_000, ge=100, le=120_000, description="ccxt request timeout")
    rate_limit: bool = Field(True, description="ccxt's own throttle (our request budget applies anyway)")
    poll_interval_ms: int = Field(2_000, ge=0, description="how often working orders are polled")
    breaker_failure_threshold: int = Field(5, ge=1, description="consecutive failures that open the circuit")
    breaker_cool_down_s: float = Field(30.0, ge=0, description="seconds before a half-open probe")
    start_retry_s: float = Field(30.0, gt=0, description="retry a venue that could not start this often")
    redis_url: str | None = Field(None, description="share the request budget through this Redis")

    @field_validator("name", mode="before")
    @classmethod
    def _known(cls, value: object) -> object:
        name = value.strip().lower() if isinstance(value, str) else value
        if name in RETIRED:
            raise ValueError(RETIRED[str(name)])
        if name not in LIVE_VENUES:
            raise ValueError(f"{value!r} is not a supported venue; one of {', '.join(LIVE_VENUES)}")
        return name

    @model_validator(mode="after")
    def _sandbox_exists(self) -> VenueSettings:
        # After the model: the default (sandbox on) must be checked too, not only a given value.
        if self.sandbox and self.name in NO_SANDBOX:
            raise ValueError(f"{self.name} has no spot sandbox or testnet; set sandbox = false to trade live")
        return self


def _unique(venues: tuple[VenueSettings, ...]) -> tuple[VenueSettings, ...]:
    seen: set[str] = set()
    for venue in venues:
        if venue.name in seen:
            raise ValueError(f"venue {venue.name} is configured twice")
        seen.add(venue.name)
    return venues


VenueList = Annotated[tuple[VenueSettings, ...], AfterValidator(_unique)]


class ReconciliationSettings(BaseModel):
    """How the service reconciles each live venue with the books (see docs/reconciliation.md)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = Field(
        True, description="false: no reconciler (the venue trades on the adapter's own polling alone)"
    )
    interval_s: float = Field(60.0, gt=0, description="seconds between periodic runs while the books match")
    retry_interval_s: float = Field(5.0, gt=0, description="seconds between runs while they do not")
    start_lookback_s: float = Field(
        3600.0, ge=0, description="how far back the first run reads the venue's trades"
    )
    adopt_prefixes: tuple[str, ...] = Field(
        ("api-",),
        description="an open venue order unknown to the books whose client id starts so is adopted",
    )


class RoutingSettings(BaseModel):
    """Best-execution routing of orders sent with venue "auto" (see docs/exchanges.md)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    book_depth: int = Field(20, ge=1, le=200, description="order book levels fetched per side")
    book_refresh_ms: int = Field(1_000, ge=0, description="watched books older than this are fetched again")
    book_max_age_ms: int = Field(5_000, ge=1, description="older books are not routed on")
    budget_reserve: float = Field(
        0.5, ge=0, lt=1, description="share of each venue's request budget book refreshes leave for orders"
    )
