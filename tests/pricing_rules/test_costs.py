"""Event costs: their two shapes checked on receipt, priced under the plan version's table."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from pricing_rules.costs import CostFormatError, MoneyCost, TokenCost, event_cost, parse_cost
from pricing_rules.errors import RuleFileError
from pricing_rules.event_json import EventFormatError, event_from_json
from pricing_rules.loader import load_rules

RULES = """\
plan: p
version: 1
currency: usd
outcomes:
  resolved: {event: conversation.resolved, unique_by: properties.conversation_id}
charges:
  - {outcome: resolved, model: per_unit, unit_price: "0.99"}
costs:
  attribute_to: properties.conversation_id
  models:
    big: {input: "2.50", output: "10.00"}
    small: {input: "0.15", output: "0.60", per: 1000}
"""


def test_the_costs_section_is_read_with_its_defaults() -> None:
    rules = load_rules(RULES)
    assert rules.costs is not None
    assert rules.costs.attribute_to == "properties.conversation_id"
    assert rules.costs.models["big"].per == 1_000_000
    assert rules.costs.models["small"].output == Decimal("0.60")


def test_token_cost_is_priced_per_the_model_table_without_rounding() -> None:
    rules = load_rules(RULES)
    priced = event_cost(rules, {"model": "big", "input_tokens": 1200, "output_tokens": 300})
    # 1200 * 2.50 / 1e6 + 300 * 10.00 / 1e6 = 0.003 + 0.003
    assert priced is not None and priced.amount == Decimal("0.006")
    small = event_cost(rules, {"model": "small", "input_tokens": 10, "output_tokens": 5})
    assert small is not None and small.amount == Decimal("0.0045")


def test_money_cost_in_the_plan_currency_is_taken_as_is() -> None:
    priced = event_cost(load_rules(RULES), {"amount": "0.0123", "currency": "USD"})
    assert priced is not None and priced.amount == Decimal("0.0123") and priced.problem is None


@pytest.mark.parametrize(
    ("cost", "problem"),
    [
        ({"model": "nope", "input_tokens": 1, "output_tokens": 1}, "model 'nope' has no token"),
        ({"amount": "1.00", "currency": "eur"}, "cost is in eur, the plan bills in usd"),
        ({"amount": "x", "currency": "usd"}, "malformed cost"),
    ],
)
def test_a_cost_that_cannot_be_priced_says_why(cost: dict[str, Any], problem: str) -> None:
    priced = event_cost(load_rules(RULES), cost)
    assert priced is not None and priced.amount is None
    assert priced.problem is not None and problem in priced.problem


def test_no_cost_and_no_costs_section() -> None:
    rules = load_rules(RULES.split("costs:")[0])
    assert event_cost(rules, None) is None
    unpriced = event_cost(rules, {"model": "big", "input_tokens": 1, "output_tokens": 1})
    assert unpriced is not None and unpriced.amount is None


def test_parse_cost_shapes() -> None:
    assert parse_cost({"amount": 0.5, "currency": "usd"}) == MoneyCost(Decimal("0.5"), "usd")
    assert parse_cost({"model": "m", "input_tokens": 0, "output_tokens": 3}) == TokenCost("m", 0, 3)
    with pytest.raises(CostFormatError) as raised:
        parse_cost({"model": "m", "input_tokens": 1})
    assert raised.value.field == "output_tokens"


@pytest.mark.parametrize(
    ("cost", "message"),
    [
        ({"amount": "-1", "currency": "usd"}, "cost.amount: must not be negative"),
        ({"amount": "1"}, "cost.currency: is required in a money cost"),
        ({"amount": "1", "currency": "usd", "model": "m"}, "cost.model: unknown member"),
        ({"model": "m", "input_tokens": 1.5, "output_tokens": 2}, "cost.input_tokens: expected a"),
        ({"model": "", "input_tokens": 1, "output_tokens": 2}, "cost.model: expected the model"),
        ({"model": "  ", "input_tokens": 1, "output_tokens": 2}, "cost.model: expected the model"),
        ({"model": "m" * 201, "input_tokens": 1, "output_tokens": 2}, "cost.model: is longer"),
        ({"model": 7, "input_tokens": 1, "output_tokens": 2}, "cost.model: expected the model"),
        ({"model": "m", "input_tokens": True, "output_tokens": 2}, "cost.input_tokens: expected"),
        ({"model": "m", "input_tokens": 1, "output_tokens": -2}, "cost.output_tokens: must not"),
        ({"model": "m", "input_tokens": 1, "amount": "1"}, "cost.input_tokens: unknown member"),
        ({"model": "m", "input_tokens": 1, "extra": 2}, "cost.extra: unknown member"),
        ({"tokens": 5}, 'cost: expected {"amount"'),
        ({"amount": "1", "currency": "zzz"}, "cost.currency: unknown currency"),
    ],
)
def test_a_malformed_cost_is_refused_on_receipt_naming_the_member(
    cost: dict[str, Any], message: str
) -> None:
    event = {"id": "e1", "type": "t", "customer": "c", "timestamp": "2026-11-01T00:00:00Z"}
    with pytest.raises(EventFormatError) as raised:
        event_from_json({**event, "cost": cost})
    assert str(raised.value).startswith(message)


def test_costs_section_errors_name_line_and_column() -> None:
    broken = RULES.replace("per: 1000}", "per: 0}").replace(
        "properties.conversation_id\n  m", "x\n  m"
    )
    with pytest.raises(RuleFileError) as raised:
        load_rules(broken, "p.yaml")
    text = str(raised.value)
    assert "p.yaml:9:17: 'x' is not an event path" in text
    assert "p.yaml:12:49: expected a number at least 1, got 0" in text


def test_portal_show_lists_paths_and_refuses_anything_else() -> None:
    text = RULES.replace(
        "unique_by: properties.conversation_id}",
        "unique_by: properties.conversation_id, portal: {show: [properties.channel]}}",
    )
    assert load_rules(text).outcomes["resolved"].portal.show == ("properties.channel",)
    assert load_rules(RULES).outcomes["resolved"].portal.show == ()
    with pytest.raises(RuleFileError, match="is not an event path"):
        load_rules(text.replace("[properties.channel]", "[secret]"))
