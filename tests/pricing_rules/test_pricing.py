"""Invoice lines from usage: one rounding per line, minimum true-up and cap, exact totals."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from pricing_rules.loader import load_rules
from pricing_rules.money import minor_units
from pricing_rules.pricing import MeasuredUsage, price_usage
from pricing_rules.rules import RuleFile


def plan(currency: str = "usd", minimum: str | None = None, maximum: str | None = None) -> RuleFile:
    """`maximum` is an amount, or YAML for the mapping form when it starts with `{`."""
    bounds = "".join(
        f"{key}: {value}\n" if value.startswith("{") else f'{key}: "{value}"\n'
        for key, value in (("minimum", minimum), ("maximum", maximum))
        if value
    )
    return load_rules(
        f"""
plan: p
version: 1
currency: {currency}
outcomes:
  call: {{event: call.done}}
  deal: {{event: deal.won, measure: {{sum: properties.amount}}}}
charges:
  - {{name: Calls, outcome: call, model: per_unit, unit_price: "0.333"}}
  - {{name: Commission, outcome: deal, model: percentage, rate: "2.5"}}
  - {{name: Platform, model: flat, price: "10"}}
{bounds}""",
        "p.yaml",
    )


def usage(calls: int, deals: list[str]) -> dict[str, MeasuredUsage]:
    values = [Decimal(v) for v in deals]
    return {
        "call": MeasuredUsage(quantity=Decimal(calls), events=calls),
        "deal": MeasuredUsage(
            quantity=sum(values, Decimal(0)), events=len(values), values=lambda: values
        ),
    }


def amounts(invoice) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [(line.charge, str(line.amount)) for line in invoice.lines]


def test_each_line_is_rounded_once_half_up() -> None:
    # 3 calls x 0.333 = 0.999 -> 1.00; 2.5% of 0.10 + 0.10 = 0.005 -> 0.01 (half-up, once).
    invoice = price_usage(plan(), usage(3, ["0.10", "0.10"]))
    assert amounts(invoice) == [("Calls", "1.00"), ("Commission", "0.01"), ("Platform", "10.00")]
    assert invoice.total == Decimal("11.01")


def test_zero_decimal_currency_rounds_to_whole_units() -> None:
    invoice = price_usage(plan("jpy"), usage(3, ["100"]))
    assert amounts(invoice) == [("Calls", "1"), ("Commission", "3"), ("Platform", "10")]


def test_minimum_true_up_line() -> None:
    invoice = price_usage(plan(minimum="50.00"), usage(3, []))
    assert amounts(invoice)[-1] == ("Minimum spend true-up", "39.00")
    assert invoice.total == Decimal("50.00")


def test_cap_line_is_negative() -> None:
    invoice = price_usage(plan(maximum="100.00"), usage(1000, ["10000"]))
    # 333.00 + 250.00 + 10.00 = 593.00, capped at 100.00
    assert amounts(invoice)[-1] == ("Period cap", "-493.00")
    assert invoice.total == Decimal("100.00")


def test_cap_written_as_a_mapping_stops_billing_by_default() -> None:
    invoice = price_usage(plan(maximum='{amount: "100.00"}'), usage(1000, ["10000"]))
    assert amounts(invoice)[-1] == ("Period cap", "-493.00")
    assert invoice.total == Decimal("100.00")


def test_maximum_that_only_notifies_bills_everything() -> None:
    rules = plan(maximum='{amount: "100.00", on_reach: notify}')
    assert rules.maximum is not None and rules.maximum.on_reach == "notify"
    invoice = price_usage(rules, usage(1000, ["10000"]))
    assert [line.charge for line in invoice.lines] == ["Calls", "Commission", "Platform"]
    assert invoice.total == Decimal("593.00")


def test_no_usage_still_bills_flat_fee() -> None:
    invoice = price_usage(plan(), {})
    assert amounts(invoice) == [("Calls", "0.00"), ("Commission", "0.00"), ("Platform", "10.00")]


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 100_000),
    st.lists(st.decimals("0", "1000000", places=2), max_size=20),
    st.sampled_from(["usd", "jpy", "bhd"]),
    st.one_of(st.none(), st.integers(0, 5000)),
    st.one_of(st.none(), st.integers(5000, 50_000)),
)
def test_total_is_the_sum_of_rounded_lines_within_bounds(  # type: ignore[no-untyped-def]
    calls, deals, currency, minimum, maximum
) -> None:
    rules = plan(
        currency,
        None if minimum is None else str(minimum),
        None if maximum is None else str(maximum),
    )
    invoice = price_usage(rules, usage(calls, [str(d) for d in deals]))
    exponent = Decimal(1).scaleb(-minor_units(currency))
    for line in invoice.lines:
        assert line.amount == line.amount.quantize(exponent)
    assert invoice.total == sum((line.amount for line in invoice.lines), Decimal(0))
    if minimum is not None:
        assert invoice.total >= minimum
    if maximum is not None:
        assert invoice.total <= maximum
