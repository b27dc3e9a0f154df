"""Decimal money and quantity values: parsing that refuses floats and non-finite numbers, quantization."""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal, InvalidOperation, localcontext

from tradeforge.domain.errors import ValidationError

ZERO = Decimal(0)
ONE = Decimal(1)
MIN_EXACT_PRECISION = 60


def to_decimal(value: object, field: str) -> Decimal:
    """Parse a str, int or Decimal into a finite Decimal; floats are refused so no binary rounding
    ever enters money arithmetic."""
    if isinstance(value, bool):
        raise ValidationError(field, "must be a decimal number, not a boolean")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise ValidationError(field, f"{value!r} is not a decimal number") from None
    elif isinstance(value, float):
        raise ValidationError(field, "floats are not accepted for money; pass a string")
    else:
        raise ValidationError(field, f"expected a decimal number, got {type(value).__name__}")
    if not result.is_finite():
        raise ValidationError(field, "must be a finite number")
    return result


def positive(value: Decimal, field: str) -> Decimal:
    if value <= 0:
        raise ValidationError(field, "must be greater than zero")
    return value


def non_negative(value: Decimal, field: str) -> Decimal:
    if value < 0:
        raise ValidationError(field, "must not be negative")
    return value


def is_multiple(value: Decimal, step: Decimal) -> bool:
    """True when value is an exact multiple of step (step > 0)."""
    return (value % step) == 0


def floor_to_step(value: Decimal, step: Decimal) -> Decimal:
    """Round down to a multiple of step; used for quantities so we never trade more than asked."""
    return (value / step).to_integral_value(rounding=ROUND_DOWN) * step


def round_to_step(value: Decimal, step: Decimal) -> Decimal:
    """Round half-even to a multiple of step; used to put float market data onto the tick grid."""
    return (value / step).to_integral_value(rounding=ROUND_HALF_EVEN) * step


def normalize(value: Decimal) -> Decimal:
    """Strip trailing zeros without switching to exponent notation for whole numbers, keeping every
    digit (computed in a context wide enough never to round)."""
    with localcontext() as context:
        context.prec = max(MIN_EXACT_PRECISION, len(value.as_tuple().digits) + 2)
        normalized = value.normalize()
        exponent = normalized.as_tuple().exponent
        if isinstance(exponent, int) and exponent > 0:
            return normalized.quantize(ONE)
    return normalized


def decimal_str(value: Decimal) -> str:
    """Plain (never scientific) string form without trailing zeros, used in JSON. Built from the
    exact digits: Decimal.normalize() would round to the context's 28 significant digits."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text
