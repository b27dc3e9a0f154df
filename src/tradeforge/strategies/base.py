"""The Strategy base class: typed frozen config, lifecycle hooks, JSON state, and float market-data views."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, ClassVar, Generic, NamedTuple, Protocol, TypeVar

from tradeforge.domain.data import Bar, Tick
from tradeforge.domain.errors import ValidationError
from tradeforge.domain.events import OrderEvent
from tradeforge.domain.fills import Fill

if TYPE_CHECKING:
    from tradeforge.strategies.context import StrategyContext

ConfigT = TypeVar("ConfigT")


class BarView(NamedTuple):
    """A bar as strategies see it: floats (ADR 5). Immutable; a named tuple because a backtest makes
    one per bar and a tuple is the cheapest immutable record Python builds."""

    symbol: str
    timeframe: str
    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float

    @classmethod
    def from_bar(cls, bar: Bar) -> BarView:
        return cls(
            bar.symbol,
            bar.timeframe,
            bar.ts,
            float(bar.open),
            float(bar.high),
            float(bar.low),
            float(bar.close),
            float(bar.volume),
        )


class TickView(NamedTuple):
    """A trade print as strategies see it, with float price and size (a named tuple, as BarView)."""

    symbol: str
    ts: int
    price: float
    size: float

    @classmethod
    def from_tick(cls, tick: Tick) -> TickView:
        return cls(tick.symbol, tick.ts, float(tick.price), float(tick.size))


class StateStore(Protocol):
    """Where a strategy's state (a JSON text) lives between runs."""

    def load(self, strategy_id: str) -> str | None: ...

    def save(self, strategy_id: str, blob: str) -> None: ...


class StrategyNotBound(RuntimeError):
    """The strategy's context is used before the runner added the strategy."""


class Strategy(Generic[ConfigT]):
    """Base of every strategy. Subclasses set `name`, `description` and `config_class` (a frozen
    dataclass or a frozen pydantic model) and override the hooks they need.

    `self.state` holds JSON-able values; the runner restores it before `on_start` and saves it after
    any handled event that changed it. `self.ctx` is the only door to the system: read-only views and
    order helpers. An exception from any hook fails this strategy only (see the runner)."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    config_class: ClassVar[type[Any]]

    def __init__(self, config: ConfigT | Mapping[str, Any] | None = None) -> None:
        self.config: ConfigT = build_config(type(self).config_class, config)
        self.state: dict[str, Any] = {}
        self._ctx: StrategyContext | None = None

    @property
    def ctx(self) -> StrategyContext:
        if self._ctx is None:
            raise StrategyNotBound(f"{type(self).__name__} is not added to a StrategyRunner")
        return self._ctx

    def bind(self, ctx: StrategyContext) -> None:
        self._ctx = ctx

    # --- hooks (all optional) ------------------------------------------------------------------
    def on_start(self) -> None:
        """Called once state is restored and before the first market data."""

    def on_bar(self, bar: BarView) -> None:
        """A closed bar of one of the strategy's symbols in its timeframe."""

    def on_tick(self, tick: TickView) -> None:
        """A trade print of one of the strategy's symbols."""

    def on_order_event(self, event: OrderEvent) -> None:
        """Any event of one of this strategy's own orders (submitted, accepted, filled, cancelled...)."""

    def on_fill(self, fill: Fill) -> None:
        """An execution of one of this strategy's own orders (after on_order_event)."""

    def on_timer(self, now_ms: int) -> None:
        """Called whenever the runner's on_timer is (the service calls it about once a second)."""

    def on_stop(self) -> None:
        """Called when the strategy is stopped normally (never after a failure)."""


# --- configs -----------------------------------------------------------------------------------
def is_frozen_config(config_class: type[Any]) -> bool:
    if dataclasses.is_dataclass(config_class):
        return bool(config_class.__dataclass_params__.frozen)  # type: ignore[attr-defined]
    model_config = getattr(config_class, "model_config", None)
    return isinstance(model_config, Mapping) and bool(model_config.get("frozen"))


def build_config(config_class: type[Any], given: object) -> Any:
    """An instance of config_class from an instance, a mapping of field values, or None (defaults).

    Dataclass fields typed Decimal, int, float or bool accept strings too (as from JSON or a CLI);
    pydantic models validate as pydantic does. Errors name the field as `config.<field>`."""
    if not is_frozen_config(config_class):
        raise TypeError(f"{config_class.__name__} must be a frozen dataclass or a frozen pydantic model")
    if isinstance(given, config_class):
        return given
    values = dict(given) if isinstance(given, Mapping) else {} if given is None else None
    if values is None:
        raise ValidationError("config", f"expected a {config_class.__name__} or a mapping")
    if dataclasses.is_dataclass(config_class):
        return _build_dataclass(config_class, values)
    from pydantic import ValidationError as PydanticError

    try:
        return config_class.model_validate(values)
    except PydanticError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ValidationError(f"config.{where}", first["msg"]) from error


def _build_dataclass(config_class: type[Any], values: dict[str, Any]) -> Any:
    hints = typing.get_type_hints(config_class)
    names = {f.name for f in dataclasses.fields(config_class)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValidationError(f"config.{unknown[0]}", f"unknown parameter; known: {sorted(names)}")
    converted = {name: _coerce(name, hints.get(name), value) for name, value in values.items()}
    try:
        return config_class(**converted)
    except (TypeError, ValueError) as error:
        raise ValidationError("config", str(error)) from error


def _coerce(name: str, hint: object, value: object) -> object:
    try:
        if hint is Decimal and isinstance(value, str | int):
            return Decimal(value)
        if hint is Decimal and isinstance(value, float):
            return Decimal(repr(value))
        if hint is int and isinstance(value, str):
            return int(value)
        if hint is float and isinstance(value, str | int):
            return float(value)
        if hint is bool and isinstance(value, str):
            if value.lower() not in ("true", "false", "1", "0"):
                raise ValueError(value)
            return value.lower() in ("true", "1")
    except (ValueError, InvalidOperation) as error:
        raise ValidationError(f"config.{name}", f"{value!r} is not a valid {hint}") from error
    return value


def config_schema(config_class: type[Any]) -> list[dict[str, Any]]:
    """The config's fields as JSON-able dicts: name, type and default (as a string or None)."""
    if dataclasses.is_dataclass(config_class):
        hints = typing.get_type_hints(config_class)
        fields = []
        for field in dataclasses.fields(config_class):
            default: object = None
            if field.default is not dataclasses.MISSING:
                default = field.default
            elif field.default_factory is not dataclasses.MISSING:
                default = field.default_factory()
            fields.append(
                {
                    "name": field.name,
                    "type": _type_name(hints.get(field.name, field.type)),
                    "default": None if default is None else str(default),
                    "required": field.default is dataclasses.MISSING
                    and field.default_factory is dataclasses.MISSING,
                }
            )
        return fields
    result = []
    for name, info in config_class.model_fields.items():
        result.append(
            {
                "name": name,
                "type": _type_name(info.annotation),
                "default": None if info.is_required() or info.default is None else str(info.default),
                "required": info.is_required(),
            }
        )
    return result


def _type_name(hint: object) -> str:
    return hint.__name__ if isinstance(hint, type) else str(hint).replace("typing.", "")
