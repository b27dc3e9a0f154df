"""Search spaces from `--param` specs against real strategy config classes, objectives and window plans."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import optuna
import pytest

from tradeforge.backtest.feed import BarColumns
from tradeforge.backtest.search_space import (
    Choice,
    Fixed,
    Objective,
    Range,
    SearchSettings,
    SearchSpace,
    SearchSpaceError,
)
from tradeforge.backtest.walk_forward import Span, WalkForwardPlan
from tradeforge.domain.errors import ValidationError
from tradeforge.strategies.builtin.breakout import BreakoutConfig
from tradeforge.strategies.builtin.grid import GridConfig
from tradeforge.strategies.builtin.rsi_reversion import RsiReversionConfig
from tradeforge.strategies.builtin.sma_cross import SmaCrossConfig

MINUTE = 60_000


def sma(*specs: str) -> SearchSpace:
    return SearchSpace.parse("sma_cross", SmaCrossConfig, specs)


def test_int_range_choice_and_fixed_values_expand_to_every_combination_in_order() -> None:
    space = sma("fast=5:15:5", "slow=20,30", "quantity=1")
    assert space.dimensions == (
        Range("fast", Decimal(5), Decimal(15), Decimal(5), space.dimensions[0].field),  # type: ignore[union-attr]
        Choice("slow", (20, 30), space.dimensions[1].field),  # type: ignore[union-attr]
        Fixed("quantity", Decimal(1)),
    )
    assert space.grid_size() == 6
    assert space.grid() == [
        {"fast": f, "slow": s, "quantity": Decimal(1)} for f in (5, 10, 15) for s in (20, 30)
    ]
    # Values carry the field's type: ints for int fields, Decimal for Decimal fields.
    assert all(type(combo["fast"]) is int and type(combo["quantity"]) is Decimal for combo in space.grid())


def test_a_range_includes_its_end_only_when_the_step_lands_on_it() -> None:
    assert sma("fast=5:17:5").grid() == [{"fast": 5}, {"fast": 10}, {"fast": 15}]
    assert sma("fast=3:6").grid() == [{"fast": f} for f in (3, 4, 5, 6)]
    assert sma("fast=3..5").grid() == [{"fast": f} for f in (3, 4, 5)]  # int field: step 1


def test_decimal_and_float_steps_are_exact_not_accumulated_floats() -> None:
    grid = SearchSpace.parse("grid", GridConfig, ["spacing_pct=0.1:0.3:0.1"]).grid()
    assert [combo["spacing_pct"] for combo in grid] == [Decimal("0.1"), Decimal("0.2"), Decimal("0.3")]
    floats = SearchSpace.parse("breakout", BreakoutConfig, ["k=0.1:0.7:0.2"]).grid()
    assert [combo["k"] for combo in floats] == [0.1, 0.3, 0.5, 0.7]


def test_optional_bool_and_string_fields() -> None:
    space = SearchSpace.parse(
        "breakout", BreakoutConfig, ["atr_multiplier=none,2.5", "channel=donchian,bollinger"]
    )
    assert space.grid() == [
        {"atr_multiplier": a, "channel": c} for a in (None, 2.5) for c in ("donchian", "bollinger")
    ]
    recenter = SearchSpace.parse("grid", GridConfig, ["recenter=true,false"]).grid()
    assert recenter == [{"recenter": True}, {"recenter": False}]


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("fsat=1:3", ["fsat", "unknown parameter", "fast"]),
        ("fast=abc", ["fast", "'abc' is not a valid int"]),
        ("fast=5.5:10", ["fast", "whole numbers"]),
        ("fast=10:5", ["fast", "above high"]),
        ("fast=1:10:0", ["fast", "step must be positive"]),
        ("fast=1:2:3:4", ["fast", "expected low:high"]),
        ("fast=", ["fast", "no value"]),
        ("fast", ["expected name=value"]),
        ("slow=20,,30", ["slow", "empty entry"]),
        ("quantity=1:2", ["quantity", "give a step"]),
        ("quantity=lots", ["quantity", "not a valid Decimal"]),
    ],
)
def test_bad_specs_are_refused_naming_the_parameter(spec: str, words: list[str]) -> None:
    with pytest.raises(SearchSpaceError) as caught:
        sma(spec)
    text = str(caught.value)
    assert all(word in text for word in words), text


def test_a_parameter_given_twice_and_bad_booleans_or_literals_are_refused() -> None:
    with pytest.raises(SearchSpaceError, match="fast: given more than once"):
        sma("fast=5", "fast=6")
    with pytest.raises(SearchSpaceError, match="recenter"):
        SearchSpace.parse("grid", GridConfig, ["recenter=maybe"])
    with pytest.raises(SearchSpaceError, match="'nan' is not a valid float"):
        SearchSpace.parse("breakout", BreakoutConfig, ["k=nan"])


def test_a_continuous_range_has_no_grid_but_optuna_samples_inside_it() -> None:
    space = SearchSpace.parse("rsi_reversion", RsiReversionConfig, ["oversold=10..40", "period=5:20:5"])
    with pytest.raises(SearchSpaceError, match="oversold: a continuous range"):
        space.grid_size()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(20):
        params = space.suggest(study.ask())
        oversold, period = params["oversold"], params["period"]
        assert isinstance(oversold, float) and 10.0 <= oversold <= 40.0
        assert period in (5, 10, 15, 20)


def test_optuna_suggestions_land_on_the_same_grid_as_grid_search() -> None:
    space = SearchSpace.parse("grid", GridConfig, ["spacing_pct=0.1:0.35:0.05", "quantity=0.001,0.002"])
    grid = space.grid()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    for _ in range(30):
        assert space.suggest(study.ask()) in grid


def test_check_reports_what_the_config_class_refuses() -> None:
    space = SearchSpace.parse("rsi_reversion", RsiReversionConfig, ["oversold=20,80"])
    assert space.check({"oversold": 20.0}) is None
    refusal = space.check({"oversold": 80.0})
    assert refusal is not None and "oversold" in refusal and "overbought" in refusal


def test_objectives_know_their_direction_and_negation() -> None:
    assert Objective.parse("sharpe").direction == "maximize"
    assert Objective.parse("max_drawdown").direction == "minimize"
    negated = Objective.parse("-max_drawdown")
    assert (negated.metric, negated.negated, negated.direction, negated.name) == (
        "max_drawdown",
        True,
        "maximize",
        "-max_drawdown",
    )
    with pytest.raises(ValidationError, match="unknown metric 'sharp'"):
        Objective.parse("sharp")


def test_search_settings_refuse_storage_without_optuna_or_a_study_name() -> None:
    with pytest.raises(ValidationError, match="needs --method optuna"):
        SearchSettings(storage="sqlite://", study_name="s")
    with pytest.raises(ValidationError, match="study-name"):
        SearchSettings(method="optuna", storage="sqlite://")
    assert SearchSettings(method="optuna", trials=7).planned(sma("fast=1:3")) == 7
    assert SearchSettings().planned(sma("fast=1:3", "slow=5,6")) == 6


@dataclass
class Minutes:
    bars: BarColumns


def minutes(count: int, gap_at: int | None = None) -> BarColumns:
    ts = np.arange(count, dtype=np.int64) * MINUTE
    if gap_at is not None:
        ts[gap_at:] += 60 * MINUTE  # an hour of missing bars
    prices = np.full(count, 100.0)
    return BarColumns.from_arrays("BTC/USDT", "1m", ts, prices, prices, prices, prices, prices)


def test_spans_parse_bars_and_durations() -> None:
    assert Span.parse("5000", "train") == Span(bars=5000)
    assert Span.parse("300bars", "train") == Span(bars=300)
    assert Span.parse("30d", "train") == Span(ms=30 * 86_400_000)
    assert str(Span.parse("90m", "test")) == "90m" and str(Span.parse("14d", "test")) == "2w"
    for bad in ("0", "-5", "3y", "d", "1.5d"):
        with pytest.raises(ValidationError, match="train"):
            Span.parse(bad, "train")


def test_rolling_bar_windows_tile_the_out_of_sample_part_without_overlap() -> None:
    plan = WalkForwardPlan(Span(bars=100), Span(bars=30))
    windows = plan.windows(minutes(250))
    assert [(w.train_first, w.train_stop, w.test_first, w.test_stop) for w in windows] == [
        (0, 100, 100, 130),
        (30, 130, 130, 160),
        (60, 160, 160, 190),
        (90, 190, 190, 220),
        (120, 220, 220, 250),
    ]
    anchored = WalkForwardPlan(Span(bars=100), Span(bars=30), Span(bars=50), anchored=True).windows(
        minutes(250)
    )
    assert [(w.train_first, w.train_stop, w.test_stop) for w in anchored] == [
        (0, 100, 130),
        (0, 150, 180),
        (0, 200, 230),
    ]


def test_duration_windows_follow_timestamps_across_gaps() -> None:
    bars = minutes(400, gap_at=150)  # bar 150 opens at minute 210
    windows = WalkForwardPlan(Span(ms=120 * MINUTE), Span(ms=60 * MINUTE)).windows(bars)
    spans = [(int(bars.ts[w.test_first]) // MINUTE, int(bars.ts[w.test_stop - 1]) // MINUTE) for w in windows]
    # Minutes 150..209 hold no bars: the test span 180..239 keeps only its bars from 210, and the
    # later windows stay on the clock's grid (240..299) instead of shifting by the missing hour.
    assert spans[:3] == [(120, 149), (210, 239), (240, 299)]
    assert all(w.test_first == w.train_stop for w in windows)
    assert all(a.test_stop <= b.test_first for a, b in itertools.pairwise(windows))


def test_a_step_shorter_than_the_test_or_mixed_units_are_refused() -> None:
    with pytest.raises(ValidationError, match="out-of-sample bars would repeat"):
        WalkForwardPlan(Span(bars=100), Span(bars=30), Span(bars=10))
    with pytest.raises(ValidationError, match="all as bar counts or all as durations"):
        WalkForwardPlan(Span(bars=100), Span(ms=MINUTE))
    with pytest.raises(ValidationError, match="must be positive"):
        WalkForwardPlan(Span(bars=0), Span(bars=30))
