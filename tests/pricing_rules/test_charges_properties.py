"""Properties every tiered price must keep, whatever tiers and quantities a plan uses."""

from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from pricing_rules.charges import Usage
from pricing_rules.charges.package import PackageCharge
from pricing_rules.charges.per_unit import PerUnitCharge
from pricing_rules.charges.tiered import GraduatedCharge, VolumeCharge

prices = st.decimals(min_value=0, max_value=1000, places=3, allow_nan=False, allow_infinity=False)
optional_prices = st.none() | prices
quantities = st.decimals(
    min_value=0, max_value=100_000, places=2, allow_nan=False, allow_infinity=False
)


@st.composite
def tier_lists(draw: st.DrawFn) -> list[dict[str, Any]]:
    bounds = sorted(draw(st.sets(st.integers(min_value=1, max_value=50_000), max_size=5)))
    tiers: list[dict[str, Any]] = []
    for bound in [*bounds, None]:
        unit_price = draw(optional_prices)
        flat_price = draw(prices if unit_price is None else optional_prices)
        tiers.append({"up_to": bound, "unit_price": unit_price, "flat_price": flat_price})
    return tiers


def graduated(tiers: list[dict[str, Any]], free_units: Decimal = Decimal(0)) -> GraduatedCharge:
    return GraduatedCharge(model="graduated", outcome="o", tiers=tiers, free_units=free_units)


def volume(tiers: list[dict[str, Any]], free_units: Decimal = Decimal(0)) -> VolumeCharge:
    return VolumeCharge(model="volume", outcome="o", tiers=tiers, free_units=free_units)


def amount(charge: Any, quantity: Decimal) -> Decimal:
    result: Decimal = charge.price(Usage(quantity=quantity)).amount
    return result


@given(tier_lists(), quantities)
def test_graduated_is_bounded_by_the_dearest_unit_price_plus_all_flats(
    tiers: list[dict[str, Any]], quantity: Decimal
) -> None:
    rule = graduated(tiers)
    dearest = max(tier.unit_amount for tier in rule.tiers)
    cheapest = min(tier.unit_amount for tier in rule.tiers)
    flats = sum((tier.flat_amount for tier in rule.tiers), Decimal(0))
    total = amount(rule, quantity)
    assert quantity * cheapest <= total <= quantity * dearest + flats


@given(tier_lists(), quantities, quantities)
def test_graduated_never_decreases_with_quantity(
    tiers: list[dict[str, Any]], first: Decimal, second: Decimal
) -> None:
    rule = graduated(tiers)
    low, high = sorted((first, second))
    assert amount(rule, low) <= amount(rule, high)


@given(tier_lists(), quantities)
def test_graduated_tier_rows_add_up_and_cover_the_quantity(
    tiers: list[dict[str, Any]], quantity: Decimal
) -> None:
    result = graduated(tiers).price(Usage(quantity=quantity))
    assert sum((row.amount for row in result.tiers), Decimal(0)) == result.amount
    assert sum((row.units for row in result.tiers), Decimal(0)) == quantity
    assert [row.tier for row in result.tiers] == list(range(1, len(result.tiers) + 1))


@given(prices, quantities)
def test_volume_with_one_tier_equals_per_unit(unit_price: Decimal, quantity: Decimal) -> None:
    one_tier = volume([{"up_to": None, "unit_price": unit_price}])
    per_unit = PerUnitCharge(model="per_unit", outcome="o", unit_price=unit_price)
    assert amount(one_tier, quantity) == amount(per_unit, quantity)


@given(tier_lists(), quantities)
def test_amounts_are_never_negative(tiers: list[dict[str, Any]], quantity: Decimal) -> None:
    assert amount(graduated(tiers), quantity) >= 0
    assert amount(volume(tiers), quantity) >= 0


@given(tier_lists(), quantities, quantities)
def test_free_units_shift_the_curve(
    tiers: list[dict[str, Any]], quantity: Decimal, free: Decimal
) -> None:
    paid = max(quantity - free, Decimal(0))
    assert amount(graduated(tiers, free), quantity) == amount(graduated(tiers), paid)
    assert amount(volume(tiers, free), quantity) == amount(volume(tiers), paid)


@given(
    st.integers(min_value=1, max_value=1000),
    prices,
    quantities,
    quantities,
)
def test_package_shifts_with_free_units_and_never_decreases(
    size: int, price: Decimal, quantity: Decimal, free: Decimal
) -> None:
    def package(free_units: Decimal) -> PackageCharge:
        return PackageCharge(
            model="package", outcome="o", package_size=size, price=price, free_units=free_units
        )

    paid = max(quantity - free, Decimal(0))
    assert amount(package(free), quantity) == amount(package(Decimal(0)), paid)
    assert amount(package(Decimal(0)), paid) <= amount(package(Decimal(0)), quantity)
