"""Typed, frozen settings from TRADEFORGE_* environment variables and an optional tradeforge.toml."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from tradeforge.runtime.venue_settings import ReconciliationSettings, RoutingSettings, VenueList

# The week of BTC/USDT minutes `make run` replays: data/samples/ (source in its README), shipped in
# the package too (tradeforge/samples/ links to it) so a built install finds it wherever it runs.
DEFAULT_SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "BTCUSDT_1m_2025-03-01_7d.parquet"


def default_sample() -> Path:
    return DEFAULT_SAMPLE


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class InstrumentSettings(_Frozen):
    symbol: str
    tick_size: Decimal
    lot_size: Decimal
    min_notional: Decimal = Decimal("5")
    maker_fee: Decimal = Decimal("0.001")
    taker_fee: Decimal = Decimal("0.001")


class FeedSettings(_Frozen):
    """One replayed file of bars."""

    symbol: str
    path: Path
    timeframe: str = "1m"


class PaperSettings(_Frozen):
    slippage_bps: Decimal = Field(
        Decimal("0"), ge=0, description="fixed slippage on taker fills, basis points"
    )
    max_volume_share: Decimal = Field(
        Decimal("1"), gt=0, le=1, description="share of a bar's volume one bar may fill"
    )
    limit_fill_on_touch: bool = False
    fill_at: Literal["last_close", "next_open"] = Field(
        "last_close",
        description="when a market order fills: at once at the last close (live-like), or at the "
        "next bar's open (exactly as the backtester does)",
    )


class StrategySettings(_Frozen):
    """One strategy the service adds (and, when enabled, starts) after recovery."""

    id: str = Field(pattern=r"^[A-Za-z0-9_\-]{1,24}$", description="strategy id; orders carry it")
    name: str = Field(min_length=1, description="registry name (e.g. sma_cross) or package.module:Class")
    symbols: tuple[str, ...] = Field(min_length=1)
    timeframe: str = "1m"
    params: dict[str, Any] = Field(default_factory=dict, description="the strategy's config fields")
    enabled: bool = True


def _default_strategies() -> tuple[StrategySettings, ...]:
    # The demo: SMA 10/30 on the replayed BTC/USDT minutes, so `make run` shows a strategy trading.
    return (
        StrategySettings(
            id="demo-sma",
            name="sma_cross",
            symbols=("BTC/USDT",),
            params={"fast": 10, "slow": 30, "quantity": "0.01"},
        ),
    )


def default_instruments() -> tuple[InstrumentSettings, ...]:
    # Binance spot filters for these pairs (PRICE_FILTER tickSize, LOT_SIZE stepSize, NOTIONAL minNotional).
    return (
        InstrumentSettings(symbol="BTC/USDT", tick_size=Decimal("0.01"), lot_size=Decimal("0.00001")),
        InstrumentSettings(symbol="ETH/USDT", tick_size=Decimal("0.01"), lot_size=Decimal("0.0001")),
    )


class Settings(BaseSettings):
    """Everything the service reads at start. Environment variables use the TRADEFORGE_ prefix and
    `__` for nesting (e.g. TRADEFORGE_PAPER__SLIPPAGE_BPS=2); complex values are JSON."""

    model_config = SettingsConfigDict(
        env_prefix="TRADEFORGE_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        toml_file="tradeforge.toml",
    )

    database_url: str = Field(
        "sqlite:///var/tradeforge.db", description="SQLAlchemy URL; sqlite or postgresql"
    )
    var_dir: Path = Field(
        Path("var"),
        description="runtime files: the first admin key (admin.key); default database var/tradeforge.db",
    )
    data_dir: Path = Field(
        Path("var/data"),
        description="market-data store: Parquet bars as <venue>/<BASE>-<QUOTE>/<timeframe>.parquet",
    )
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    account_id: str = Field("main", pattern=r"^[A-Za-z0-9_\-]{1,32}$")
    starting_balances: dict[str, Decimal] = Field(
        default_factory=lambda: {"USDT": Decimal("100000"), "BTC": Decimal("0"), "ETH": Decimal("0")},
        description="deposited once into an empty database",
    )
    instruments: tuple[InstrumentSettings, ...] = Field(default_factory=default_instruments)
    feeds: tuple[FeedSettings, ...] = Field(
        default_factory=lambda: (FeedSettings(symbol="BTC/USDT", path=default_sample()),),
        description="bar files replayed on paper",
    )
    replay_speed: float = Field(60.0, gt=0, description="x real time: 60 replays one 1m bar per second")
    replay_loop: bool = Field(True, description="start over (shifted in time) at the end of the file")
    paper: PaperSettings = Field(default_factory=PaperSettings)
    risk: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            "risk limits (see docs/risk.md); used until an admin changes limits at runtime,"
            " after which the saved limits win"
        ),
    )
    # --- live venues and routing (issue #4; models in venue_settings.py) ---
    venues: VenueList = Field(
        default=(),
        description="ccxt venues traded next to the paper venue (see docs/exchanges.md); [] for none",
    )
    routing: RoutingSettings = Field(default_factory=RoutingSettings)
    reconciliation: ReconciliationSettings = Field(default_factory=ReconciliationSettings)
    # --- end live venues ---
    strategies: tuple[StrategySettings, ...] = Field(
        default_factory=_default_strategies,
        description="strategies the service starts after recovery (see docs/strategies.md); [] for none",
    )
    auto_migrate: bool = Field(True, description="upgrade the database schema on start")
    journal_max_batch: int = Field(2000, ge=1, description="most units grouped into one commit")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("starting_balances")
    @classmethod
    def _non_negative(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        for asset, amount in value.items():
            if amount < 0:
                raise ValueError(f"{asset}: starting balance must not be negative")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    @property
    def admin_key_file(self) -> Path:
        return self.var_dir / "admin.key"
