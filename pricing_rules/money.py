"""Currencies and amounts: Decimal only, rounded once per line, half-up, to the minor unit.

Rule files carry prices as exact text ("0.99"); the YAML loader hands unquoted numbers over
as Decimal built from their source text. A float reaching a validator here means some code
path lost that exactness, so it is rejected rather than silently converted.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import Annotated, Any

from babel.numbers import get_currency_precision, list_currencies
from pydantic import AfterValidator, BeforeValidator, WithJsonSchema

_DECIMAL_JSON_SCHEMA = {
    "anyOf": [
        {"type": "integer"},
        {"type": "number"},
        {"type": "string", "pattern": r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$"},
    ]
}


@lru_cache(maxsize=1)
def _known_currencies() -> frozenset[str]:
    return frozenset(code.lower() for code in list_currencies())


def check_currency(value: object) -> str:
    """Normalise an ISO 4217 code to lowercase; raise ValueError if babel does not know it."""
    if not isinstance(value, str):
        raise ValueError(f"a currency must be a text code such as usd, got {value!r}")
    code = value.strip().lower()
    if code not in _known_currencies():
        raise ValueError(
            f"unknown currency {code!r}; expected an ISO 4217 code such as usd, eur or jpy"
        )
    return code


Currency = Annotated[
    str,
    AfterValidator(check_currency),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^[A-Za-z]{3}$",
            "description": "ISO 4217 currency code, for example usd, eur or jpy.",
        }
    ),
]


def parse_decimal(value: Any) -> Decimal:
    """An exact Decimal from Decimal, int or numeric text; bool, float and NaN are refused."""
    if isinstance(value, bool | float):
        raise ValueError(
            f'{value!r} must be written as exact decimal text such as "0.99", not a float'
        )
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(
                f'{value!r} is not a number; expected a decimal such as "0.99"'
            ) from None
    elif isinstance(value, list | tuple):
        raise ValueError(
            'expected a decimal number such as "0.99", got a list (tiers are for a graduated '
            "or volume charge)"
        )
    elif isinstance(value, dict):
        raise ValueError('expected a decimal number such as "0.99", got a mapping')
    else:
        raise ValueError(f'expected a decimal number such as "0.99", got {value!r}')
    if not number.is_finite():
        raise ValueError(f"must be a finite number, got {value!r}")
    return number


def check_non_negative(value: Decimal) -> Decimal:
    if value < 0:
        raise ValueError(f"must not be negative, got {value}")
    return value


Money = Annotated[
    Decimal,
    BeforeValidator(parse_decimal),
    AfterValidator(check_non_negative),
    WithJsonSchema({**_DECIMAL_JSON_SCHEMA, "description": 'Amount, as text such as "0.99".'}),
]
"""A price in a rule file: exact, finite, not negative."""

NonNegativeDecimal = Annotated[
    Decimal,
    BeforeValidator(parse_decimal),
    AfterValidator(check_non_negative),
    WithJsonSchema(_DECIMAL_JSON_SCHEMA),
]
"""A quantity or rate in a rule file, validated like Money."""


def minor_units(currency: str) -> int:
    """Decimal places of the currency's minor unit (usd 2, jpy 0, bhd 3)."""
    code = check_currency(currency)
    precision: int = get_currency_precision(code.upper())
    return precision


@lru_cache(maxsize=64)
def _quantum(currency: str) -> Decimal:
    """Cached: a close rounds every line, and babel's lookup costs more than the rounding."""
    return Decimal(1).scaleb(-minor_units(currency))


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round once, half-up, to the currency's minor unit (0.005 usd -> 0.01)."""
    return amount.quantize(_quantum(currency), rounding=ROUND_HALF_UP)


def to_minor_units(amount: Decimal, currency: str) -> int:
    """The integer count of minor units (cents) of an already rounded amount, as Stripe wants."""
    scaled = amount.scaleb(minor_units(currency))
    if scaled != scaled.to_integral_value():
        raise ValueError(
            f"{amount} {currency} is not rounded to the currency's minor unit; "
            "round it with round_money first"
        )
    return int(scaled)
