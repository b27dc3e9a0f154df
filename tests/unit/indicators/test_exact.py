"""Exact SMAs and crossovers on integer ticks: ties decided exactly, one tie rule in both forms."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.unit.indicators.helpers import run, sample_bars

from tradeforge.indicators import (
    SMA,
    ExactSMA,
    ExactSMACross,
    exact_sma,
    exact_sma_cross,
    sma,
    to_ticks,
)
from tradeforge.indicators.exact import round_half_even_int


def crosses_by_rule(signs: list[int | None]) -> list[int]:
    """The documented tie rule applied to a sequence of signs of fast - slow (None: warming up)."""
    state = 0
    crosses = []
    for sign in signs:
        cross = 0
        if sign:
            cross = sign if state == -sign else 0
            state = sign
        crosses.append(cross)
    return crosses


def float_signs(prices: list[float], fast: int, slow: int) -> list[int | None]:
    fast_values = run(SMA(fast), prices)
    slow_values = run(SMA(slow), prices)
    return [None if s is None else (f > s) - (f < s) for f, s in zip(fast_values, slow_values, strict=True)]


# At bar 4 the 2-bar and 4-bar means are equal (0.6; 84338.165), yet float arithmetic puts the
# fast one below: a float crossover sees a cross down and back up where the exact one sees a touch.
TIES = [
    pytest.param([0.4, 0.3, 0.9, 0.5, 0.7, 0.9], 1, 1, id="tenths"),
    pytest.param([84338.45, 84338.16, 84338.17, 84338.33, 84338.0, 84338.43], 2, -1, id="btc-cents"),
]


@pytest.mark.parametrize(("prices", "decimals", "side"), TIES)
def test_float_smas_misjudge_a_tie_that_the_exact_sma_gets_right(
    prices: list[float], decimals: int, side: int
) -> None:
    exact = [Decimal(str(price)) for price in prices]
    assert sum(exact[3:5]) / 2 == sum(exact[1:5]) / 4  # a true tie at bar 4
    assert exact[2:4] != exact[0:4]

    # Float SMAs, incremental and vectorized, both call it unequal, on the wrong side.
    signs = float_signs(prices, 2, 4)
    assert signs[3:] == [side, -side, side]
    assert np.sign(sma(prices, 2)[4] - sma(prices, 4)[4]) == -side
    assert crosses_by_rule(signs) == [0, 0, 0, 0, -side, side]  # two phantom crosses

    fast, slow = ExactSMA(2, decimals), ExactSMA(4, decimals)
    comparisons = []
    for price in prices:
        fast.update(price)
        slow.update(price)
        comparisons.append(fast.compare(slow) if slow.ready else None)
    assert comparisons[3:] == [side, 0, side]
    assert run(ExactSMACross(2, 4, decimals), prices) == [0] * 6
    assert exact_sma_cross(prices, 2, 4, decimals).tolist() == [0] * 6


@pytest.mark.parametrize(
    ("ticks", "expected"),
    [
        pytest.param([5, 4, 4, 5], [0, 0, 0, 1], id="through-a-tie-crosses-once"),
        pytest.param([5, 6, 6, 7], [0, 0, 0, 0], id="touching-is-no-cross"),
        pytest.param([5, 6, 5], [0, 0, -1], id="straight-flip"),
        pytest.param([5, 5, 5, 6, 6, 4], [0, 0, 0, 0, 0, -1], id="first-state-is-no-cross"),
    ],
)
def test_tie_rule(ticks: list[int], expected: list[int]) -> None:
    # fast=1, slow=2: fast - slow = (x[t] - x[t-1]) / 2, so the signs are those of the price steps.
    cross = ExactSMACross(1, 2, 0)
    assert [cross.update_ticks(t) for t in ticks] == expected
    assert exact_sma_cross([float(t) for t in ticks], 1, 2, 0).tolist() == expected


@settings(deadline=None)
@given(st.lists(st.integers(-50, 50), max_size=80), st.integers(1, 6), st.integers(1, 6))
def test_cross_matches_a_fraction_reference(ticks: list[int], fast: int, extra: int) -> None:
    slow = fast + extra
    signs: list[int | None] = []
    for index in range(len(ticks)):
        if index < slow - 1:
            signs.append(None)
            continue
        difference = Fraction(sum(ticks[index - fast + 1 : index + 1]), fast) - Fraction(
            sum(ticks[index - slow + 1 : index + 1]), slow
        )
        signs.append((difference > 0) - (difference < 0))
    expected = crosses_by_rule(signs)
    cross = ExactSMACross(fast, slow, 0)
    assert [cross.update_ticks(t) for t in ticks] == expected
    assert exact_sma_cross([float(t) for t in ticks], fast, slow, 0).tolist() == expected


@pytest.mark.parametrize(("fast", "slow"), [(10, 30), (5, 20)])
def test_incremental_and_vectorized_crosses_agree_on_real_bars(fast: int, slow: int) -> None:
    close = sample_bars().close
    incremental = run(ExactSMACross(fast, slow, 2), close)
    vectorized = exact_sma_cross(close, fast, slow, 2)
    assert incremental == vectorized.tolist()
    assert (vectorized == 1).sum() > 10
    assert abs(int(vectorized.sum())) <= 1  # crosses alternate up and down


def test_exact_sma_matches_the_float_sma_on_real_bars() -> None:
    close = sample_bars().close
    incremental = np.array([np.nan if v is None else v for v in run(ExactSMA(20, 2), close)])
    vectorized = exact_sma(close, 20, 2)
    np.testing.assert_allclose(incremental, vectorized, rtol=1e-15)
    np.testing.assert_allclose(vectorized, sma(close, 20), rtol=1e-12)


def test_decimal_and_float_prices_give_the_same_ticks() -> None:
    from_float, from_decimal = ExactSMA(3, 2), ExactSMA(3, 2)
    for text in ["84338.54", "84274.88", "84266.02", "0.07"]:
        from_float.update(float(text))
        from_decimal.update(Decimal(text))
    assert from_float.sum_ticks == from_decimal.sum_ticks == 8427488 + 8426602 + 7
    assert from_float.value == from_decimal.value == (8427488 + 8426602 + 7) / 300


def test_window_sums_survive_int64_wraparound_of_the_running_total() -> None:
    # 1.2 million ticks of ~8e12 sum past 2**63, yet every 3-bar window sum is exact.
    ticks = 8_000_000_000_000 + np.arange(1_200_000, dtype=np.int64) % 1000
    prices = ticks / 10**8
    assert int(ticks.sum(dtype=object)) > 2**63
    result = exact_sma(prices, 3, 8)
    for index in (len(ticks) - 1, len(ticks) - 500):
        expected = sum(int(t) for t in ticks[index - 2 : index + 1]) / (3 * 10**8)
        assert result[index] == expected


def test_huge_products_fall_back_to_python_integers() -> None:
    # ticks ~8e12 with fast * slow ~1e6 overflow int64 products; the answer must not change.
    rng = np.random.default_rng(7)
    prices = np.round(80_000 + np.cumsum(rng.normal(0, 5, 3000)), 8)
    expected = run(ExactSMACross(999, 1000, 8), prices)
    assert exact_sma_cross(prices, 999, 1000, 8).tolist() == expected


def test_ticks_conversion_refuses_what_it_cannot_represent() -> None:
    assert to_ticks([84338.54, 0.01], 2).tolist() == [8433854, 1]
    with pytest.raises(ValueError, match="more than 2 decimals"):
        to_ticks([84338.545], 2)
    with pytest.raises(ValueError, match="finite"):
        to_ticks([float("nan")], 2)
    with pytest.raises(ValueError, match="2\\*\\*43"):
        to_ticks([1e9], 8)


def test_parameters_are_validated() -> None:
    with pytest.raises(ValueError, match="shorter"):
        ExactSMACross(30, 10, 2)
    with pytest.raises(ValueError, match="shorter"):
        exact_sma_cross([1.0, 2.0], 5, 5, 2)
    with pytest.raises(ValueError, match="decimals"):
        ExactSMA(3, -1)
    with pytest.raises(ValueError, match="different decimals"):
        ExactSMA(1, 2).compare(ExactSMA(1, 3))


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-(2.0**62), max_value=2.0**62))
def test_round_half_even_int_is_round_for_every_finite_float(value: float) -> None:
    assert round_half_even_int(value) == round(value)


@pytest.mark.parametrize(
    "value", [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999999999999994, -0.0, 4503599627370495.5]
)
def test_round_half_even_int_ties_go_to_the_even_neighbour(value: float) -> None:
    assert round_half_even_int(value) == round(value)


def test_update_float_gives_the_signals_of_update_on_real_closes() -> None:
    closes = sample_bars().close.tolist()
    by_float, by_update = ExactSMACross(10, 30, 2), ExactSMACross(10, 30, 2)
    signals = [(by_float.update_float(c), by_update.update(c)) for c in closes]
    assert all(a == b for a, b in signals)
    assert any(a != 0 for a, _ in signals)  # the slice really crosses
