from decimal import Decimal

import pytest
from pydantic import BaseModel, ValidationError

from pricing_rules.money import (
    Currency,
    Money,
    minor_units,
    round_money,
    to_minor_units,
)


class Priced(BaseModel):
    currency: Currency = "usd"
    price: Money = Decimal(0)


def error_message(error: ValidationError) -> str:
    (detail,) = error.errors()
    return str(detail["ctx"]["error"])


@pytest.mark.parametrize(("given", "expected"), [("usd", "usd"), ("EUR", "eur"), ("JpY", "jpy")])
def test_currency_is_normalised_to_lowercase(given: str, expected: str) -> None:
    assert Priced(currency=given).currency == expected


def test_unknown_currency_says_what_is_expected() -> None:
    with pytest.raises(ValidationError) as caught:
        Priced(currency="USX")
    assert error_message(caught.value) == (
        "unknown currency 'usx'; expected an ISO 4217 code such as usd, eur or jpy"
    )


@pytest.mark.parametrize(
    ("given", "expected"),
    [("0.99", Decimal("0.99")), (Decimal("200.00"), Decimal("200.00")), (5, Decimal(5))],
)
def test_money_accepts_exact_values(given: object, expected: Decimal) -> None:
    price = Priced(price=given).price
    assert price == expected
    assert str(price) == str(expected)


@pytest.mark.parametrize("given", [0.99, True])
def test_money_rejects_float_and_bool(given: object) -> None:
    with pytest.raises(ValidationError) as caught:
        Priced(price=given)
    assert "not a float" in error_message(caught.value)


def test_money_rejects_negative_with_the_value() -> None:
    with pytest.raises(ValidationError) as caught:
        Priced(price="-1.00")
    assert error_message(caught.value) == "must not be negative, got -1.00"


@pytest.mark.parametrize("given", ["NaN", "Infinity", "-inf"])
def test_money_rejects_non_finite(given: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Priced(price=given)
    assert error_message(caught.value) == f"must be a finite number, got {given!r}"


def test_money_rejects_text_that_is_not_a_number() -> None:
    with pytest.raises(ValidationError) as caught:
        Priced(price="0,99")
    assert (
        error_message(caught.value) == "'0,99' is not a number; expected a decimal such as \"0.99\""
    )


@pytest.mark.parametrize(("currency", "places"), [("usd", 2), ("jpy", 0), ("bhd", 3), ("EUR", 2)])
def test_minor_units(currency: str, places: int) -> None:
    assert minor_units(currency) == places


def test_minor_units_of_unknown_currency_fails() -> None:
    with pytest.raises(ValueError, match="unknown currency 'usx'"):
        minor_units("usx")


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("0.005", "usd", "0.01"),
        ("0.004999", "usd", "0.00"),
        ("1.125", "usd", "1.13"),
        ("2.5", "jpy", "3"),
        ("1234.4", "jpy", "1234"),
        ("0.0005", "bhd", "0.001"),
        ("10", "usd", "10.00"),
    ],
)
def test_round_money_is_half_up_to_the_minor_unit(
    amount: str, currency: str, expected: str
) -> None:
    rounded = round_money(Decimal(amount), currency)
    assert str(rounded) == expected


def test_to_minor_units_is_exact() -> None:
    assert to_minor_units(Decimal("1234.56"), "usd") == 123456
    assert to_minor_units(Decimal("1500"), "jpy") == 1500
    assert to_minor_units(Decimal("1.234"), "bhd") == 1234
    assert to_minor_units(Decimal("0.10"), "usd") == 10


def test_to_minor_units_refuses_an_unrounded_amount() -> None:
    with pytest.raises(ValueError, match="not rounded"):
        to_minor_units(Decimal("0.005"), "usd")
    with pytest.raises(ValueError, match="not rounded"):
        to_minor_units(Decimal("1.5"), "jpy")
