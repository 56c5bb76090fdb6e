"""What each outcome adds to its charge: exact for graduated, volume, package and per-event
charges, and the shares add up to the line."""

from __future__ import annotations

from decimal import Decimal

from pydantic import TypeAdapter

from pricing_rules.charges import Charge, ChargeBase
from pricing_rules.marginal import added_amounts

ONE = Decimal(1)


def charge(raw: dict[str, object]) -> ChargeBase:
    parsed: ChargeBase = TypeAdapter(Charge).validate_python(raw)
    return parsed


def amounts(values: list[str]) -> list[Decimal]:
    return [Decimal(v) for v in values]


def test_graduated_free_units_then_each_tier() -> None:
    graduated = charge(
        {
            "outcome": "resolved",
            "model": "graduated",
            "free_units": 2,
            "tiers": [{"up_to": 3, "unit_price": "0.99"}, {"up_to": None, "unit_price": "0.79"}],
        }
    )
    added = added_amounts(graduated, [ONE] * 7)
    assert added == amounts(["0", "0", "0.99", "0.99", "0.99", "0.79", "0.79"])
    assert sum(added) == Decimal("4.55")  # the line: 3 x 0.99 + 2 x 0.79


def test_a_tier_flat_price_is_added_by_the_outcome_that_reaches_the_tier() -> None:
    graduated = charge(
        {
            "outcome": "resolved",
            "model": "graduated",
            "tiers": [
                {"up_to": 2, "unit_price": "1.00"},
                {"up_to": None, "unit_price": "0.50", "flat_price": "10.00"},
            ],
        }
    )
    assert added_amounts(graduated, [ONE] * 4) == amounts(["1.00", "1.00", "10.50", "0.50"])


def test_volume_crossing_a_bound_reprices_every_unit() -> None:
    volume = charge(
        {
            "outcome": "resolved",
            "model": "volume",
            "tiers": [{"up_to": 3, "unit_price": "1.00"}, {"up_to": None, "unit_price": "0.50"}],
        }
    )
    added = added_amounts(volume, [ONE] * 5)
    # 1, 2, 3 at 1.00; the 4th moves all four to 0.50 (2.00 in all: 1.00 less); the 5th 0.50.
    assert added == amounts(["1.00", "1.00", "1.00", "-1.00", "0.50"])
    assert sum(added) == Decimal("2.50")


def test_package_the_first_unit_of_a_pack_pays_for_it() -> None:
    package = charge(
        {"outcome": "resolved", "model": "package", "package_size": 3, "price": "5.00"}
    )
    added = added_amounts(package, [ONE] * 4)
    assert added == amounts(["5.00", "0", "0", "5.00"])


def test_sum_measure_adds_each_value_through_the_tiers() -> None:
    graduated = charge(
        {
            "outcome": "pipeline",
            "model": "graduated",
            "tiers": [{"up_to": 100, "unit_price": "0.10"}, {"up_to": None, "unit_price": "0.05"}],
        }
    )
    assert added_amounts(graduated, amounts(["60", "60"])) == amounts(["6.00", "5.00"])


def test_percentage_prices_each_event_alone() -> None:
    percentage = charge(
        {
            "outcome": "pipeline",
            "model": "percentage",
            "rate": "1.5",
            "per_event_min": "1.00",
            "per_event_max": "50.00",
        }
    )
    added = added_amounts(percentage, amounts(["1000", "20", "10000"]))
    assert added == amounts(["15.000", "1.00", "50.00"])
