"""Decimal parsing refuses floats and non-finite numbers; instruments check tick and lot grids."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tradeforge.domain.errors import ValidationError
from tradeforge.domain.identifiers import IdGenerator, Symbol, validate_client_order_id
from tradeforge.domain.instruments import Instrument
from tradeforge.domain.values import decimal_str, to_decimal


@pytest.mark.parametrize("value", ["1.5", 3, Decimal("0.00000001")])
def test_to_decimal_accepts_exact_inputs(value: object) -> None:
    assert to_decimal(value, "price") == Decimal(str(value))


@pytest.mark.parametrize("value", [0.1, "NaN", "Infinity", "abc", True, None, [1]])
def test_to_decimal_refuses_inexact_or_bad_inputs_naming_the_field(value: object) -> None:
    with pytest.raises(ValidationError) as error:
        to_decimal(value, "price")
    assert error.value.field == "price"


def test_decimal_str_is_plain() -> None:
    assert decimal_str(Decimal("1E+3")) == "1000"
    assert decimal_str(Decimal("0.000000010")) == "0.00000001"
    assert decimal_str(Decimal("84338.540")) == "84338.54"
    assert decimal_str(Decimal("-0.000")) == "0"
    assert decimal_str(Decimal("0E-8")) == "0"
    long = Decimal("10000.123456789012345678901234567890")
    assert decimal_str(long) == "10000.12345678901234567890123456789"  # 34 digits, none rounded


def test_instrument_grids_and_minimums() -> None:
    btc = Instrument.spot("btc/usdt", "paper", tick_size="0.01", lot_size="0.00001", min_notional="5")
    assert (btc.symbol, btc.base, btc.quote) == ("BTC/USDT", "BTC", "USDT")
    assert btc.check_price(Decimal("84338.54")) == Decimal("84338.54")
    with pytest.raises(ValidationError, match="tick size"):
        btc.check_price(Decimal("84338.545"))
    with pytest.raises(ValidationError, match="lot size"):
        btc.check_quantity(Decimal("0.000001"))
    with pytest.raises(ValidationError, match="minimum notional"):
        btc.check_notional(Decimal("0.00001"), Decimal("84338.54"))
    assert btc.price_from_market(84338.544999) == Decimal("84338.54")


def test_symbols_and_client_order_ids() -> None:
    assert str(Symbol.parse(" eth/usdt ")) == "ETH/USDT"
    with pytest.raises(ValidationError, match="symbol"):
        Symbol.parse("ETHUSDT")
    with pytest.raises(ValidationError, match="client_order_id"):
        validate_client_order_id("has space")
    assert validate_client_order_id("abc-123_x:y.z") == "abc-123_x:y.z"


def test_ids_are_unique_and_sortable() -> None:
    generator = IdGenerator("O")
    ids = [generator.next() for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert ids == sorted(ids)
