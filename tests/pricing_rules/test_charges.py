"""Charge models against Stripe's published examples, and their validation messages."""

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from pricing_rules.charges import Charge, ChargeAmount, PerEventSums, TierAmount, Usage
from pricing_rules.charges.flat import FlatCharge
from pricing_rules.charges.package import PackageCharge
from pricing_rules.charges.per_unit import PerUnitCharge
from pricing_rules.charges.percentage import PercentageCharge
from pricing_rules.charges.tiered import GraduatedCharge, VolumeCharge
from pricing_rules.errors import RuleValueError, RuleValueErrors
from pricing_rules.money import round_money

CHARGE = TypeAdapter(Charge)

# Stripe's "Set up tiered pricing" example (Typographic fonts): 1-5 at 7, 6-10 at 6.5, 11+ at 6.
STRIPE_TIERS = [
    {"up_to": 5, "unit_price": "7"},
    {"up_to": 10, "unit_price": "6.5"},
    {"up_to": None, "unit_price": "6"},
]

# Tiers with a flat price each. Stripe's page with flat fees per tier could not be retrieved
# here, so these tiers are constructed to give that example's published totals for 12 units
# (volume 66, graduated 111); the arithmetic is spelled out in the tests below.
FLAT_FEE_TIERS = [
    {"up_to": 5, "unit_price": "7", "flat_price": "10"},
    {"up_to": 10, "unit_price": "6", "flat_price": "10"},
    {"up_to": None, "unit_price": "4", "flat_price": "18"},
]


def charge(**data: Any) -> Any:
    return CHARGE.validate_python(data)


def priced(rule: Any, quantity: str | int) -> ChargeAmount:
    amount: ChargeAmount = rule.price(Usage(quantity=Decimal(quantity)))
    return amount


# --- graduated and volume (Stripe conformance) -------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "expected"), [(1, "7"), (5, "35"), (6, "41.5"), (20, "127.5"), (25, "157.5")]
)
def test_graduated_matches_stripe(quantity: int, expected: str) -> None:
    rule = charge(model="graduated", outcome="fonts", tiers=STRIPE_TIERS)
    assert priced(rule, quantity).amount == Decimal(expected)


@pytest.mark.parametrize(
    ("quantity", "expected"), [(1, "7"), (5, "35"), (6, "39"), (20, "120"), (25, "150")]
)
def test_volume_matches_stripe(quantity: int, expected: str) -> None:
    rule = charge(model="volume", outcome="fonts", tiers=STRIPE_TIERS)
    assert priced(rule, quantity).amount == Decimal(expected)


def test_graduated_with_flat_fees_adds_each_reached_tier() -> None:
    rule = charge(model="graduated", outcome="fonts", tiers=FLAT_FEE_TIERS)
    # (5 x 7 + 10) + (5 x 6 + 10) + (2 x 4 + 18) = 45 + 40 + 26
    assert priced(rule, 12).amount == Decimal(111)


def test_volume_with_flat_fees_prices_all_units_at_one_tier() -> None:
    rule = charge(model="volume", outcome="fonts", tiers=FLAT_FEE_TIERS)
    # 12 x 4 + 18
    assert priced(rule, 12).amount == Decimal(66)
    # 7 x 6 + 10: the second tier's flat price only
    assert priced(rule, 7).amount == Decimal(52)


def test_graduated_detail_lists_each_tier() -> None:
    rule = charge(model="graduated", outcome="fonts", tiers=FLAT_FEE_TIERS)
    result = priced(rule, 12)
    assert result.quantity == Decimal(12)
    assert result.detail == "12 units, graduated"
    assert result.tiers == (
        TierAmount(1, Decimal(1), Decimal(5), Decimal(5), Decimal(7), Decimal(10), Decimal(45)),
        TierAmount(2, Decimal(6), Decimal(10), Decimal(5), Decimal(6), Decimal(10), Decimal(40)),
        TierAmount(3, Decimal(11), None, Decimal(2), Decimal(4), Decimal(18), Decimal(26)),
    )


def test_volume_detail_names_the_tier_used() -> None:
    rule = charge(model="volume", outcome="fonts", tiers=STRIPE_TIERS)
    result = priced(rule, 6)
    assert result.detail == "6 units, volume tier 2"
    assert result.tiers == (
        TierAmount(2, Decimal(6), Decimal(10), Decimal(6), Decimal("6.5"), None, Decimal(39)),
    )


def test_up_to_is_inclusive() -> None:
    graduated = charge(model="graduated", outcome="fonts", tiers=STRIPE_TIERS)
    volume = charge(model="volume", outcome="fonts", tiers=STRIPE_TIERS)
    assert priced(graduated, 10).amount == Decimal("67.5")
    assert priced(volume, 10).amount == Decimal(65)
    assert priced(volume, 11).amount == Decimal(66)


@pytest.mark.parametrize("model", ["graduated", "volume"])
def test_zero_quantity_costs_nothing_without_a_first_tier_flat_price(model: str) -> None:
    rule = charge(model=model, outcome="fonts", tiers=STRIPE_TIERS)
    assert priced(rule, 0).amount == Decimal(0)


@pytest.mark.parametrize("model", ["graduated", "volume"])
def test_zero_quantity_owes_the_first_tier_flat_price_as_in_stripe(model: str) -> None:
    rule = charge(model=model, outcome="fonts", tiers=FLAT_FEE_TIERS)
    result = priced(rule, 0)
    assert result.amount == Decimal(10)
    assert [row.tier for row in result.tiers] == [1]


def test_fractional_quantities_are_priced_exactly() -> None:
    rule = charge(model="graduated", outcome="gb", tiers=STRIPE_TIERS)
    # 5 x 7 + 0.25 x 6.5
    assert priced(rule, "5.25").amount == Decimal("36.625")
    assert round_money(priced(rule, "5.25").amount, "usd") == Decimal("36.63")


# --- free units ----------------------------------------------------------------------------


def test_free_units_come_off_before_graduated_tiers() -> None:
    rule = charge(model="graduated", outcome="fonts", free_units=3, tiers=STRIPE_TIERS)
    # 9 used, 3 free: 6 paid units = 5 x 7 + 1 x 6.5
    result = priced(rule, 9)
    assert result.amount == Decimal("41.5")
    assert result.quantity == Decimal(9)
    assert result.detail == "9 units, 3 free, graduated"
    assert priced(rule, 2).amount == Decimal(0)


def test_free_units_come_off_before_packages() -> None:
    rule = charge(model="package", outcome="docs", free_units=5, package_size=10, price="4.00")
    assert priced(rule, 5).amount == Decimal(0)
    assert priced(rule, 6).amount == Decimal("4.00")
    result = priced(rule, 26)  # 21 paid units: 3 packs
    assert result.amount == Decimal("12.00")
    assert result.detail == "26 units, 5 free, packs of 10: 3"


# --- per unit, package, flat ---------------------------------------------------------------


def test_per_unit() -> None:
    rule = charge(model="per_unit", outcome="resolved", unit_price="0.99")
    result = priced(rule, 120)
    assert result.amount == Decimal("118.80")
    assert result.detail == "120 units, at 0.99"


def test_per_unit_divide_by_rounds_up_by_default() -> None:
    rule = charge(model="per_unit", outcome="users", unit_price="25.00", divide_by=5)
    result = priced(rule, 6)  # 6 users = 2 packs of 5
    assert result.amount == Decimal("50.00")
    assert result.detail == "6 units, groups of 5 rounded up: 2"
    assert priced(rule, 5).amount == Decimal("25.00")
    assert priced(rule, 0).amount == Decimal(0)


def test_per_unit_divide_by_rounds_down_when_asked() -> None:
    rule = charge(model="per_unit", outcome="users", unit_price="25.00", divide_by=5, round="down")
    assert priced(rule, 9).amount == Decimal(25)
    assert priced(rule, 4).amount == Decimal(0)


@pytest.mark.parametrize(("units", "packs"), [(0, 0), (1, 1), (10, 1), (11, 2), (30, 3)])
def test_package_bills_every_started_pack(units: int, packs: int) -> None:
    rule = charge(model="package", outcome="docs", package_size=10, price="4.50")
    assert priced(rule, units).amount == Decimal("4.50") * packs


def test_flat_charge_ignores_usage() -> None:
    rule = charge(model="flat", name="Platform fee", price="200.00")
    assert isinstance(rule, FlatCharge)
    assert rule.amount == Decimal("200.00")
    result = priced(rule, 0)
    assert (result.quantity, result.amount, result.detail) == (Decimal(1), Decimal(200), "flat fee")


# --- percentage ----------------------------------------------------------------------------


def percentage(**extra: Any) -> PercentageCharge:
    rule = charge(model="percentage", outcome="pipeline_value", rate="1.5", **extra)
    assert isinstance(rule, PercentageCharge)
    return rule


def test_percentage_clamps_each_event_then_sums() -> None:
    rule = percentage(per_event_min="1.00", per_event_max="50.00")
    values = [Decimal(10), Decimal(1000), Decimal(10000)]
    # 0.15 -> 1.00 (min), 15.00, 150.00 -> 50.00 (max)
    result = rule.price(Usage(quantity=Decimal(3), values=values))
    assert result.amount == Decimal("66.00")
    assert result.quantity == Decimal(11010)
    assert result.detail == "3 events, 1.5% of 11010"


def test_percentage_adds_the_fee_after_clamping_and_does_not_round_per_event() -> None:
    rule = percentage(per_event_max="50.00", per_event_fee="0.30")
    values = [Decimal("0.33"), Decimal("0.33"), Decimal(10000)]
    # 0.00495 + 0.30 twice, then 50.00 + 0.30: rounding each event would give 100.90
    result = rule.price(Usage(quantity=Decimal(3), values=values))
    assert result.amount == Decimal("50.9099")
    assert round_money(result.amount, "usd") == Decimal("50.91")


def test_percentage_reads_a_generator_once() -> None:
    reads: list[Decimal] = []

    def stream() -> Iterator[Decimal]:
        for value in (Decimal(100), Decimal(200)):
            reads.append(value)
            yield value

    result = percentage().price(Usage(quantity=Decimal(2), values=stream()))
    assert result.amount == Decimal("4.5")
    assert reads == [Decimal(100), Decimal(200)]


def test_percentage_prices_the_sums_a_store_added_up_as_it_prices_the_values() -> None:
    rule = percentage(per_event_min="1.00", per_event_max="50.00")
    values = [Decimal(10), Decimal(1000), Decimal(10000)]
    sums = rule.add_up(values)
    assert sums == PerEventSums(3, Decimal(11010), Decimal("66.00"))
    from_sums = rule.price(Usage(quantity=Decimal(3), values=(), sums=sums))
    assert from_sums == rule.price(Usage(quantity=Decimal(3), values=values))


def test_percentage_of_no_events_is_zero() -> None:
    result = percentage(per_event_min="1.00").price(Usage(quantity=Decimal(0)))
    assert (result.amount, result.detail) == (Decimal(0), "0 events, 1.5% of 0")


def test_negative_value_earns_no_percentage_but_the_minimum_applies() -> None:
    rule = percentage(per_event_min="1.00")
    assert rule.event_amount(Decimal(-500)) == Decimal("1.00")
    assert percentage().event_amount(Decimal(-500)) == Decimal(0)


# --- rounding of a priced line -------------------------------------------------------------


def test_jpy_line_rounds_to_whole_yen_half_up() -> None:
    rule = charge(model="per_unit", outcome="calls", unit_price="0.5")
    assert round_money(priced(rule, 3).amount, "jpy") == Decimal(2)
    assert round_money(priced(rule, 5).amount, "jpy") == Decimal(3)


def test_usd_line_rounds_half_up_at_half_a_cent() -> None:
    rule = charge(model="per_unit", outcome="calls", unit_price="0.001")
    assert priced(rule, 5).amount == Decimal("0.005")
    assert round_money(priced(rule, 5).amount, "usd") == Decimal("0.01")
    assert round_money(priced(rule, 4).amount, "usd") == Decimal("0.00")


# --- names ---------------------------------------------------------------------------------


def test_display_names() -> None:
    assert charge(model="flat", price="1").display_name == "Flat fee"
    assert charge(model="flat", name="Platform fee", price="1").display_name == "Platform fee"
    per_unit = charge(model="per_unit", outcome="resolved_conversation", unit_price="0.99")
    assert per_unit.display_name == "resolved_conversation (per_unit)"
    assert percentage().display_name == "pipeline_value (percentage)"
    named = charge(model="volume", outcome="x", name="Leads", tiers=STRIPE_TIERS)
    assert named.display_name == "Leads"


def test_each_model_gets_its_class() -> None:
    assert isinstance(charge(model="per_unit", outcome="a", unit_price="1"), PerUnitCharge)
    assert isinstance(charge(model="graduated", outcome="a", tiers=STRIPE_TIERS), GraduatedCharge)
    assert isinstance(charge(model="volume", outcome="a", tiers=STRIPE_TIERS), VolumeCharge)
    assert isinstance(
        charge(model="package", outcome="a", package_size=2, price="1"), PackageCharge
    )


def test_rule_file_keys_survive_a_round_trip() -> None:
    data = {"model": "package", "outcome": "docs", "package_size": 10, "price": "4.50"}
    rule = charge(**data)
    assert rule.model_dump(exclude_defaults=True) == {**data, "price": Decimal("4.50")}
    assert CHARGE.validate_python(rule.model_dump()) == rule


def test_charges_are_frozen() -> None:
    rule = charge(model="flat", price="1")
    with pytest.raises(ValidationError):
        rule.amount = Decimal(2)


# --- validation: every fault, its message and its place ------------------------------------


def faults(**data: Any) -> list[tuple[tuple[str | int, ...], str]]:
    """Each fault as (full location, message), expanding RuleValueError sub-paths."""
    with pytest.raises(ValidationError) as caught:
        CHARGE.validate_python(data)
    found: list[tuple[tuple[str | int, ...], str]] = []
    for error in caught.value.errors():
        loc = tuple(error["loc"])
        cause = error.get("ctx", {}).get("error")
        if isinstance(cause, RuleValueErrors):
            found.extend((loc + one.subpath, one.message) for one in cause.errors)
        elif isinstance(cause, RuleValueError):
            found.append((loc + cause.subpath, cause.message))
        else:
            found.append((loc, error["msg"]))
    return found


def test_tiers_not_ascending() -> None:
    tiers = [
        {"up_to": 100, "unit_price": "1"},
        {"up_to": 1000, "unit_price": "1"},
        {"up_to": 500, "unit_price": "1"},
        {"up_to": None, "unit_price": "1"},
    ]
    assert faults(model="graduated", outcome="a", tiers=tiers) == [
        (
            ("graduated", "tiers", 2, "up_to"),
            "tier 3 up_to 500 must be greater than the previous tier's 1000",
        )
    ]


def test_equal_bounds_are_not_ascending() -> None:
    tiers = [{"up_to": 10, "unit_price": "1"}, {"up_to": 10, "unit_price": "1"}, {"unit_price": 1}]
    assert faults(model="volume", outcome="a", tiers=tiers) == [
        (
            ("volume", "tiers", 1, "up_to"),
            "tier 2 up_to 10 must be greater than the previous tier's 10",
        )
    ]


def test_first_bound_must_be_positive() -> None:
    tiers = [{"up_to": 0, "unit_price": "1"}, {"up_to": None, "unit_price": "1"}]
    assert faults(model="volume", outcome="a", tiers=tiers) == [
        (("volume", "tiers", 0, "up_to"), "tier 1 up_to 0 must be greater than 0")
    ]


def test_every_tier_fault_is_reported_at_its_place() -> None:
    tiers = [
        {"up_to": 100, "unit_price": "1"},
        {"up_to": None, "unit_price": "1"},
        {"up_to": 1000, "unit_price": "1"},
        {"up_to": 50, "unit_price": "1"},
    ]
    assert faults(model="graduated", outcome="a", tiers=tiers) == [
        (("graduated", "tiers", 1, "up_to"), "only the last tier may have up_to: null"),
        (
            ("graduated", "tiers", 3, "up_to"),
            "the last tier must have up_to: null so every quantity has a price",
        ),
        (
            ("graduated", "tiers", 3, "up_to"),
            "tier 4 up_to 50 must be greater than the previous tier's 1000",
        ),
    ]


def test_last_tier_must_be_open() -> None:
    tiers = [{"up_to": 100, "unit_price": "1"}, {"up_to": 1000, "unit_price": "0.5"}]
    assert faults(model="graduated", outcome="a", tiers=tiers) == [
        (
            ("graduated", "tiers", 1, "up_to"),
            "the last tier must have up_to: null so every quantity has a price",
        )
    ]


def test_tiers_must_not_be_empty() -> None:
    assert faults(model="volume", outcome="a", tiers=[]) == [
        (("volume", "tiers"), "at least one tier is required; the last one with up_to: null")
    ]


def test_tier_needs_a_price() -> None:
    tiers = [{"up_to": None}]
    assert faults(model="volume", outcome="a", tiers=tiers) == [
        (("volume", "tiers", 0), "a tier needs a unit_price, a flat_price or both")
    ]


def test_tier_price_errors_are_located() -> None:
    tiers = [{"up_to": None, "unit_price": "-1.00"}]
    assert faults(model="volume", outcome="a", tiers=tiers) == [
        (("volume", "tiers", 0, "unit_price"), "Value error, must not be negative, got -1.00")
    ]


def test_per_event_min_above_max() -> None:
    assert faults(
        model="percentage", outcome="a", rate="1", per_event_min="5.00", per_event_max="2.00"
    ) == [(("percentage", "per_event_min"), "per_event_min 5.00 is above per_event_max 2.00")]


def test_misspelt_model_names_the_allowed_models() -> None:
    assert faults(model="graduate", outcome="a") == [
        (
            ("model",),
            "unknown charge model 'graduate' (did you mean 'graduated'?); expected one of "
            "per_unit, graduated, volume, package, percentage, flat",
        )
    ]


def test_missing_model_names_the_allowed_models() -> None:
    assert faults(outcome="a", unit_price="1") == [
        (
            (),
            "a charge needs a model: one of per_unit, graduated, volume, package, percentage, flat",
        )
    ]


def test_unknown_key_is_an_error() -> None:
    assert faults(model="per_unit", outcome="a", unit_price="1", free_unit=5) == [
        (("per_unit", "free_unit"), "Extra inputs are not permitted")
    ]


@pytest.mark.parametrize(
    ("data", "loc"),
    [
        ({"model": "per_unit", "outcome": "a", "unit_price": "1", "divide_by": 0}, "divide_by"),
        ({"model": "per_unit", "outcome": "a", "unit_price": "1", "round": "nearest"}, "round"),
        ({"model": "package", "outcome": "a", "price": "1", "package_size": 0}, "package_size"),
        (
            {"model": "per_unit", "outcome": "a", "unit_price": "1", "free_units": "-1"},
            "free_units",
        ),
        ({"model": "percentage", "outcome": "a", "rate": "-1"}, "rate"),
        ({"model": "per_unit", "outcome": "a", "unit_price": 0.99}, "unit_price"),
    ],
)
def test_field_constraints(data: dict[str, Any], loc: str) -> None:
    ((where, _),) = faults(**data)
    assert where == (data["model"], loc)
