"""The pure limit rules: which outcomes a block limit holds, and what is left under it."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from pricing_rules.errors import RuleFileError
from pricing_rules.limits import LimitCandidate, over_limit, remaining_units
from pricing_rules.loader import load_rules
from pricing_rules.pricing import MeasuredUsage

PLAN = """\
plan: p
version: 1
currency: usd
outcomes:
  call: {{event: call.done{limit}}}
  deal: {{event: deal.won, measure: {{sum: properties.amount}}}}
charges:
  - outcome: call
    model: graduated
    tiers: [{{up_to: 2, unit_price: "3.00"}}, {{up_to: null, unit_price: "1.50"}}]
  - {{outcome: deal, model: per_unit, unit_price: "0.10"}}
  - {{name: Fee, model: flat, price: "1.00"}}
{maximum}
"""


def plan(maximum: str = "", limit: str = ""):  # type: ignore[no-untyped-def]
    return load_rules(PLAN.format(maximum=maximum, limit=limit), "p.yaml")


def at(minute: int) -> datetime:
    return datetime(2026, 11, 2, 9, minute, tzinfo=UTC)


CALLS = [LimitCandidate(n, "call", at(n), f"e{n}", None) for n in range(1, 6)]


def test_a_money_limit_holds_the_outcome_that_would_cross_it_in_any_order() -> None:
    rules = plan()
    # Fee 1.00 + 3.00 + 3.00 = 7.00, + 1.50 = 8.50, + 1.50 = 10.00 (fits), + 1.50 = 11.50.
    for order in itertools.permutations(CALLS):
        assert over_limit(rules, list(order), Decimal("10.00")) == {5}


def test_a_smaller_later_outcome_still_fits_after_a_held_one() -> None:
    rules = plan()
    deals = [
        LimitCandidate(1, "deal", at(1), "d1", Decimal("50")),  # 1.00 + 5.00 = 6.00
        LimitCandidate(2, "deal", at(2), "d2", Decimal("50")),  # 11.00: held
        LimitCandidate(3, "deal", at(3), "d3", Decimal("30")),  # 9.00: fits
    ]
    assert over_limit(rules, deals, Decimal("10.00")) == {2}


def test_a_unit_limit_holds_units_past_it() -> None:
    rules = plan(limit=", limit: {units: 3}")
    assert over_limit(rules, CALLS, None) == {4, 5}


def test_remaining_units_at_the_marginal_price() -> None:
    rules = plan()
    used = {"call": MeasuredUsage(Decimal(3), 3)}  # 1.00 + 6.00 + 1.50 = 8.50
    # One more call costs 1.50: (20.00 - 8.50) / 1.50 = 7.67 -> 7.
    assert remaining_units(rules, used, "call", Decimal("20.00")) == Decimal(7)
    assert remaining_units(rules, used, "call", Decimal("8.50")) == Decimal(0)


@pytest.mark.parametrize(
    ("maximum", "limit", "message"),
    [
        (
            'maximum: {amount: "0", on_reach: block}',
            "",
            "p.yaml:13:19: a limit must be above zero, got 0",
        ),
        ("", ", limit: {units: -1}", "p.yaml:5:43: a limit must be above zero, got -1"),
        (
            'maximum: {amount: "5", on_reach: stop}',
            "",
            "p.yaml:13:34: expected one of notify, stop_billing, block, got 'stop'",
        ),
    ],
)
def test_bad_limits_are_located(maximum: str, limit: str, message: str) -> None:
    with pytest.raises(RuleFileError) as raised:
        plan(maximum, limit)
    assert str(raised.value) == message
