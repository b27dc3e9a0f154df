"""What an optimization tries and ranks by: `--param` search spaces, the objective, the Optuna study."""

# `name=value` fixes a field, `name=a,b,c` lists choices, `name=a:b[:step]` is a stepped range (ends
# included), `name=a..b` a continuous one (docs/optimization.md). Values are read with the field's
# type, so a typo is refused before any backtest runs; whether a combination is acceptable (fast <
# slow, ...) is for the config class and the strategy to say, per combination.

from __future__ import annotations

import dataclasses
import itertools
import math
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Literal

from tradeforge.backtest.metrics import Metrics
from tradeforge.domain.errors import ValidationError
from tradeforge.strategies.base import build_config

if TYPE_CHECKING:
    import optuna

Scalar = int | float | Decimal | bool | str | None
Method = Literal["grid", "optuna"]
_NONE_WORDS = ("none", "null")
_TRUE_WORDS = ("true", "1", "yes", "on")
_FALSE_WORDS = ("false", "0", "no", "off")
# A grid larger than this is almost surely a typo in a step; Optuna samples such spaces instead.
MAX_GRID = 1_000_000


class SearchSpaceError(ValidationError):
    """A `--param` spec that cannot be read or does not fit the strategy's config class."""


@dataclass(frozen=True, slots=True)
class FieldType:
    """A config field as the search space reads it: its base type (int, float, Decimal, bool or
    str; `object` when it is none of these), whether None is allowed, and literal choices if any."""

    name: str
    base: type
    optional: bool = False
    literals: tuple[Any, ...] = ()

    @property
    def numeric(self) -> bool:
        return self.base in (int, float, Decimal)

    def parse(self, text: str) -> Any:
        """One value of this field from its text, or SearchSpaceError naming the field."""
        raw = text.strip()
        if self.optional and raw.lower() in _NONE_WORDS:
            return None
        try:
            value = self._convert(raw)
        except (ValueError, InvalidOperation, ArithmeticError):
            kind = self.base.__name__ if self.base is not object else "value"
            raise SearchSpaceError(f"param {self.name}", f"{text!r} is not a valid {kind}") from None
        if self.literals and value not in self.literals:
            raise SearchSpaceError(
                f"param {self.name}", f"{text!r} is not one of {[str(v) for v in self.literals]}"
            )
        return value

    def _convert(self, raw: str) -> Any:
        if self.base is bool:
            lowered = raw.lower()
            if lowered in _TRUE_WORDS:
                return True
            if lowered in _FALSE_WORDS:
                return False
            raise ValueError(raw)
        if self.base is int:
            return int(raw)
        if self.base is float:
            number = float(raw)
            if not math.isfinite(number):
                raise ValueError(raw)
            return number
        if self.base is Decimal:
            decimal = Decimal(raw)
            if not decimal.is_finite():
                raise ValueError(raw)
            return decimal
        if not raw:
            raise ValueError(raw)
        return raw


def config_fields(config_class: type[Any]) -> dict[str, FieldType]:
    """The fields of a frozen dataclass or pydantic config class, in declaration order."""
    if dataclasses.is_dataclass(config_class):
        hints = typing.get_type_hints(config_class)
        names = [f.name for f in dataclasses.fields(config_class)]
        return {name: _field_type(name, hints.get(name, object)) for name in names}
    model_fields = getattr(config_class, "model_fields", None)
    if isinstance(model_fields, Mapping):
        return {name: _field_type(name, info.annotation) for name, info in model_fields.items()}
    raise TypeError(f"{config_class.__name__} is neither a dataclass nor a pydantic model")


def _field_type(name: str, hint: Any) -> FieldType:
    optional = False
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        members = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        optional = len(members) < len(typing.get_args(hint))
        hint = members[0] if len(members) == 1 else object
        origin = typing.get_origin(hint)
    if origin is Literal:
        literals = typing.get_args(hint)
        base = type(literals[0]) if literals and len({type(v) for v in literals}) == 1 else object
        return FieldType(name, base, optional, tuple(literals))
    base = hint if hint in (int, float, Decimal, bool, str) else object
    return FieldType(name, base, optional)


# --- dimensions --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Fixed:
    """One value for every trial."""

    name: str
    value: Scalar

    def values(self) -> tuple[Scalar, ...]:
        return (self.value,)

    def suggest(self, trial: optuna.trial.Trial) -> Scalar:
        return self.value

    def describe(self) -> str:
        return f"{self.name} = {_text(self.value)}"


@dataclass(frozen=True, slots=True)
class Choice:
    """A list of values; Optuna samples it as a categorical (Decimals travel as strings)."""

    name: str
    options: tuple[Scalar, ...]
    field: FieldType

    def values(self) -> tuple[Scalar, ...]:
        return self.options

    def size(self) -> int:
        return len(self.options)

    def suggest(self, trial: optuna.trial.Trial) -> Scalar:
        encoded = [str(v) if isinstance(v, Decimal) else v for v in self.options]
        picked = trial.suggest_categorical(self.name, encoded)
        return Decimal(picked) if self.field.base is Decimal and isinstance(picked, str) else picked

    def describe(self) -> str:
        return f"{self.name} in {{{', '.join(_text(v) for v in self.options)}}}"


@dataclass(frozen=True, slots=True)
class Range:
    """low..high, both included. With a step the values are low, low + step, ... <= high (computed
    in Decimal, so 0.1 steps do not drift); without one it is continuous (Optuna only)."""

    name: str
    low: Decimal
    high: Decimal
    step: Decimal | None
    field: FieldType

    @property
    def continuous(self) -> bool:
        return self.step is None

    def size(self) -> int:
        if self.step is None:
            raise SearchSpaceError(
                f"param {self.name}",
                "a continuous range (a..b) has no finite list of values: give a step (a:b:step) "
                "for grid search, or use --method optuna",
            )
        return int((self.high - self.low) / self.step) + 1

    def values(self) -> tuple[Scalar, ...]:
        step = self.step or Decimal(0)
        return tuple(self._typed(self.low + k * step) for k in range(self.size()))

    def suggest(self, trial: optuna.trial.Trial) -> Scalar:
        if self.step is None:
            number = trial.suggest_float(self.name, float(self.low), float(self.high))
            return Decimal(repr(number)) if self.field.base is Decimal else number
        # The highest value on the step grid, so Optuna need not adjust (and warn about) the range.
        top = self.low + int((self.high - self.low) / self.step) * self.step
        if self.field.base is int:
            return trial.suggest_int(self.name, int(self.low), int(top), step=int(self.step))
        number = trial.suggest_float(self.name, float(self.low), float(top), step=float(self.step))
        # Back onto the exact Decimal grid the grid search uses, whatever float rounding did.
        k = round((Decimal(repr(number)) - self.low) / self.step)
        return self._typed(min(self.low + k * self.step, top))

    def _typed(self, value: Decimal) -> Scalar:
        if self.field.base is int:
            return int(value)
        if self.field.base is float:
            return float(value)
        return value

    def describe(self) -> str:
        if self.step is None:
            return f"{self.name} in [{self.low}, {self.high}] (continuous)"
        return f"{self.name} in {self.low}:{self.high}:{self.step} ({self.size()} values)"


Dimension = Fixed | Choice | Range


def _text(value: Scalar) -> str:
    return "none" if value is None else str(value)


def parse_param(spec: str, fields: Mapping[str, FieldType]) -> Dimension:
    """One `name=...` spec as a dimension of the search space (see the module comment)."""
    name, sep, text = spec.partition("=")
    name = name.strip()
    if not sep or not name:
        raise SearchSpaceError("param", f"{spec!r}: expected name=value, name=a,b,c or name=low:high:step")
    field = fields.get(name)
    if field is None:
        raise SearchSpaceError(f"param {name}", f"unknown parameter; the strategy has {sorted(fields)}")
    text = text.strip()
    if not text:
        raise SearchSpaceError(f"param {name}", "no value given")
    if "," in text:
        options: list[Scalar] = []
        for part in text.split(","):
            if not part.strip():
                raise SearchSpaceError(f"param {name}", f"{text!r}: empty entry in the list")
            value = field.parse(part)
            if value not in options:
                options.append(value)
        return Choice(name, tuple(options), field) if len(options) > 1 else Fixed(name, options[0])
    if field.numeric and (".." in text or ":" in text):
        return _range(name, text, field)
    return Fixed(name, field.parse(text))


def _range(name: str, text: str, field: FieldType) -> Range:
    where = f"param {name}"
    continuous = ".." in text
    parts = text.split("..") if continuous else text.split(":")
    if len(parts) != 2 and not (not continuous and len(parts) == 3):
        raise SearchSpaceError(where, f"{text!r}: expected low:high, low:high:step or low..high")
    numbers = FieldType(name, Decimal)
    low, high = numbers.parse(parts[0]), numbers.parse(parts[1])
    step: Decimal | None = numbers.parse(parts[2]) if len(parts) == 3 else None
    if low > high:
        raise SearchSpaceError(where, f"{text!r}: low ({low}) is above high ({high})")
    if field.base is int:
        if any(v is not None and v != v.to_integral_value() for v in (low, high, step)):
            raise SearchSpaceError(where, f"{text!r}: an int parameter needs whole numbers")
        step = Decimal(1) if step is None else step
    elif step is None and not continuous:
        raise SearchSpaceError(
            where, f"{text!r}: give a step (low:high:step) or write a continuous range as low..high"
        )
    if step is not None and step <= 0:
        raise SearchSpaceError(where, f"{text!r}: the step must be positive")
    return Range(name, low, high, step, field)


@dataclass(frozen=True, slots=True)
class SearchSpace:
    """The parameters to search for one strategy: every field of its config class that a spec
    names (the others keep their defaults)."""

    strategy: str
    config_class: type[Any]
    dimensions: tuple[Dimension, ...]

    @classmethod
    def parse(cls, strategy: str, config_class: type[Any], specs: Sequence[str]) -> SearchSpace:
        fields = config_fields(config_class)
        dimensions: list[Dimension] = []
        for spec in specs:
            dimension = parse_param(spec, fields)
            if any(d.name == dimension.name for d in dimensions):
                raise SearchSpaceError(f"param {dimension.name}", "given more than once")
            dimensions.append(dimension)
        return cls(strategy, config_class, tuple(dimensions))

    @property
    def searched(self) -> list[Dimension]:
        """The dimensions with more than one value."""
        return [d for d in self.dimensions if not isinstance(d, Fixed)]

    def grid_size(self) -> int:
        """Combinations in the grid (SearchSpaceError for a continuous range)."""
        return math.prod(1 if isinstance(d, Fixed) else d.size() for d in self.dimensions)

    def grid(self) -> list[dict[str, Scalar]]:
        """Every combination, the last dimension varying fastest."""
        size = self.grid_size()
        if size > MAX_GRID:
            raise SearchSpaceError("param", f"the grid has {size:,} combinations (limit {MAX_GRID:,})")
        combos = itertools.product(*(d.values() for d in self.dimensions))
        names = [d.name for d in self.dimensions]
        return [dict(zip(names, combo, strict=True)) for combo in combos]

    def suggest(self, trial: optuna.trial.Trial) -> dict[str, Scalar]:
        return {d.name: d.suggest(trial) for d in self.dimensions}

    def check(self, params: Mapping[str, Any]) -> str | None:
        """None when the config class accepts these values (with defaults for the rest), else why not."""
        try:
            build_config(self.config_class, params)
        except ValidationError as error:
            return str(error)
        except (TypeError, ValueError, ArithmeticError) as error:
            return f"config: {error}"
        return None

    def describe(self) -> list[str]:
        return [d.describe() for d in self.dimensions]


@dataclass(frozen=True, slots=True)
class SearchSettings:
    """How to search: every grid combination, or `trials` Optuna TPE trials (seeded, asked in
    batches of one per worker so a run repeats exactly for the same seed and workers), optionally
    in a stored study shared with other machines."""

    method: Method = "grid"
    trials: int = 100
    seed: int = 0
    workers: int | None = None
    storage: str | None = None
    study_name: str | None = None

    def __post_init__(self) -> None:
        if self.method not in ("grid", "optuna"):
            raise ValidationError("method", f"expected grid or optuna, got {self.method!r}")
        if self.trials < 1:
            raise ValidationError("trials", "must be at least 1")
        if self.workers is not None and self.workers < 1:
            raise ValidationError("workers", "must be at least 1")
        if self.storage is not None and self.method != "optuna":
            raise ValidationError("storage", "a study storage needs --method optuna")
        if self.storage is not None and not self.study_name:
            raise ValidationError("study_name", "name the study (--study-name) to share it through --storage")

    def planned(self, space: SearchSpace) -> int:
        """Trials one search runs (the progress total)."""
        return space.grid_size() if self.method == "grid" else self.trials


# --- objective ---------------------------------------------------------------------------------
MAXIMIZED = (
    *("sharpe", "sortino", "calmar", "total_return", "cagr", "profit_factor", "win_rate", "expectancy"),
    *("final_equity", "gross_profit", "trade_count", "winning_trades", "exposure"),
)
MINIMIZED = (
    *("max_drawdown", "max_drawdown_duration_ms", "max_drawdown_duration_bars", "volatility"),
    *("gross_loss", "losing_trades", "fees_paid"),
)


@dataclass(frozen=True, slots=True)
class Objective:
    """What a search ranks by: a metric in its natural direction (MAXIMIZED: sharpe, returns, ...;
    MINIMIZED: drawdown, volatility, losses, fees), or `-metric`, the negated metric, maximized.
    Undefined values (None/NaN) rank after every number."""

    metric: str
    negated: bool = False

    @classmethod
    def parse(cls, text: str) -> Objective:
        name = text.strip()
        metric = name.lstrip("-").strip()
        if metric not in MAXIMIZED + MINIMIZED:
            known = sorted(MAXIMIZED + MINIMIZED)
            raise ValidationError("objective", f"unknown metric {metric!r}; one of {known}")
        return cls(metric, name.startswith("-"))

    @property
    def name(self) -> str:
        return f"-{self.metric}" if self.negated else self.metric

    @property
    def maximize(self) -> bool:
        return self.negated or self.metric in MAXIMIZED

    @property
    def direction(self) -> Literal["maximize", "minimize"]:
        return "maximize" if self.maximize else "minimize"

    def value(self, metrics: Metrics, final_equity: Decimal) -> float | None:
        raw = final_equity if self.metric == "final_equity" else getattr(metrics, self.metric)
        if raw is None or not math.isfinite(float(raw)):
            return None
        return -float(raw) if self.negated else float(raw)


# --- Optuna study ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class StudyInfo:
    """A stored Optuna study after a run: every machine's trials counted, and its best."""

    name: str
    trials: int
    complete: int
    best_number: int | None
    best_value: float | None
    best_params: Mapping[str, Any] | None
    best_metrics: Mapping[str, Any] | None = None  # the key metrics the best trial's run stored


def storage_url(url: str) -> str:
    """An Optuna RDB URL; plain postgresql:// goes through psycopg 3 when psycopg2 is absent."""
    import importlib.util

    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix) and importlib.util.find_spec("psycopg2") is None:
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@contextmanager
def optuna_study(
    space: SearchSpace, objective: Objective, seed: int, storage: str | None = None, name: str | None = None
) -> Iterator[optuna.Study]:
    """A TPE study (seeded) in memory, or created/loaded by `name` in an RDB `storage` so several
    machines add trials to it. A stored study must have been made for the same strategy and
    objective. Optuna's per-trial log lines are silenced meanwhile (the caller reports)."""
    import optuna

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rdb = None if storage is None else optuna.storages.RDBStorage(storage_url(storage))
    try:
        sampler = optuna.samplers.TPESampler(seed=seed)
        if rdb is None:
            yield optuna.create_study(sampler=sampler, direction=objective.direction)
            return
        study = optuna.create_study(
            storage=rdb, study_name=name, sampler=sampler, direction=objective.direction, load_if_exists=True
        )
        direction = study.direction.name.lower()
        if direction != objective.direction:
            raise ValidationError(
                "study_name", f"study {name!r} is set to {direction}, not {objective.direction}"
            )
        for attribute, value in {"objective": objective.name, "strategy": space.strategy}.items():
            stored = study.user_attrs.get(attribute)
            if stored is None:
                study.set_user_attr(attribute, value)
            elif stored != value:
                raise ValidationError(
                    "study_name", f"study {name!r} has {attribute} {stored!r}, not {value!r}"
                )
        yield study
    finally:
        optuna.logging.set_verbosity(verbosity)
        if rdb is not None:
            rdb.engine.dispose()


def record_trial(
    study: optuna.Study, trial: optuna.trial.Trial, value: float | None, attributes: Mapping[str, Any]
) -> None:
    """Tell the study a trial's value and keep `attributes` on it. A trial without a value is
    FAIL: TPE leaves it out of its model, as nothing is learned from a refused or undefined run
    and no made-up number should distort it."""
    from optuna.trial import TrialState

    for key, item in attributes.items():
        trial.set_user_attr(key, item)
    if value is None:
        study.tell(trial, state=TrialState.FAIL)
    else:
        study.tell(trial, value)


def study_info(study: optuna.Study, name: str) -> StudyInfo:
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    complete = [trial for trial in trials if trial.state is TrialState.COMPLETE]
    if not complete:
        return StudyInfo(name, len(trials), 0, None, None, None)
    best = study.best_trial
    params = best.user_attrs.get("params", best.params)
    metrics = best.user_attrs.get("metrics")
    return StudyInfo(name, len(trials), len(complete), best.number, best.value, params, metrics)
