"""What a backtest runs: the strategy and its parameters, money, fees, fill and slippage rules, risk."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from tradeforge.adapters.paper.slippage import FixedBps, NoSlippage, SlippageModel, VolumeShareSlippage
from tradeforge.domain.errors import ValidationError
from tradeforge.domain.identifiers import Symbol
from tradeforge.domain.values import ONE, ZERO

SlippageKind = Literal["none", "fixed", "volume"]


def _empty() -> Mapping[str, Any]:
    return {}


@dataclass(frozen=True, slots=True)
class BacktestConfig:
    """One backtest. Money is Decimal; every field is checked here so a bad value is refused with
    its name before anything runs.

    fee_rate: charged on every fill's notional, in the quote asset (maker_fee/taker_fee override it).
    slippage: "none"; "fixed" (slippage_bps against the taker on every market-like fill); "volume"
        (impact = price_impact * (quantity / bar volume)^2, the Zipline model).
    max_volume_share: None fills any size; a share in (0, 1] bounds all fills of one bar to that
        share of its volume (partial fills, the remainder waits for the next bar).
    risk: risk limits as in settings (docs/risk.md); by default the throttle and open-order cap are
        off (a backtest is not a live account) while fat-finger, balance and position checks stay on.
    """

    strategy: str = "sma_cross"
    params: Mapping[str, Any] = field(default_factory=_empty)
    cash: Decimal = Decimal("100000")
    fee_rate: Decimal = Decimal("0.001")
    maker_fee: Decimal | None = None
    taker_fee: Decimal | None = None
    slippage: SlippageKind = "none"
    slippage_bps: Decimal = ZERO
    price_impact: Decimal = Decimal("0.1")
    max_volume_share: Decimal | None = None
    limit_fill_on_touch: bool = False
    tick_size: Decimal | None = None
    lot_size: Decimal | None = None
    min_notional: Decimal | None = None
    risk: Mapping[str, Any] = field(default_factory=_empty)
    strategy_id: str = "backtest"
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.strategy, str) or not self.strategy:
            raise ValidationError("strategy", "name a strategy (e.g. sma_cross) or package.module:Class")
        if not isinstance(self.params, Mapping):
            raise ValidationError("params", "expected a mapping of parameter name to value")
        for name in ("cash", "fee_rate", "slippage_bps", "price_impact"):
            _decimal_at_least(getattr(self, name), name, ZERO)
        if self.cash <= ZERO:
            raise ValidationError("cash", "must be positive")
        for name in ("maker_fee", "taker_fee"):
            value = getattr(self, name)
            if value is not None:
                _decimal_at_least(value, name, ZERO)
        for name in ("fee_rate", "maker_fee", "taker_fee"):
            value = getattr(self, name)
            if value is not None and value >= ONE:
                raise ValidationError(name, "must be below 1 (0.001 is 0.1 %)")
        if self.slippage not in ("none", "fixed", "volume"):
            raise ValidationError("slippage", "expected one of none, fixed, volume")
        if self.price_impact >= ONE:
            raise ValidationError("price_impact", "must be below 1")
        if self.max_volume_share is not None:
            _decimal_at_least(self.max_volume_share, "max_volume_share", ZERO)
            if not ZERO < self.max_volume_share <= ONE:
                raise ValidationError("max_volume_share", "must be in (0, 1], or None for no bound")
        for name in ("tick_size", "lot_size", "min_notional"):
            value = getattr(self, name)
            if value is not None:
                _decimal_at_least(value, name, ZERO)
                if name != "min_notional" and value <= ZERO:
                    raise ValidationError(name, "must be positive")
        if not isinstance(self.risk, Mapping):
            raise ValidationError("risk", "expected a mapping of risk limits")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValidationError("seed", "must be a non-negative integer")

    @property
    def maker(self) -> Decimal:
        return self.fee_rate if self.maker_fee is None else self.maker_fee

    @property
    def taker(self) -> Decimal:
        return self.fee_rate if self.taker_fee is None else self.taker_fee

    def slippage_model(self) -> SlippageModel:
        if self.slippage == "fixed":
            return FixedBps(self.slippage_bps)
        if self.slippage == "volume":
            return VolumeShareSlippage(self.price_impact)
        return NoSlippage()

    def risk_limits(self) -> dict[str, Any]:
        limits: dict[str, Any] = {"max_submits_per_second": None, "max_open_orders": None}
        limits.update(self.risk)
        return limits


def quote_asset(symbol: str) -> str:
    return Symbol.parse(symbol).quote


def _decimal_at_least(value: object, name: str, minimum: Decimal) -> None:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValidationError(name, f"expected a finite decimal number, got {value!r}")
    if value < minimum:
        raise ValidationError(name, f"must be at least {minimum}")
