"""An override's `commitment` over the plan's: the keys it may change, and located mistakes."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pricing_rules.commitments import Position, commitment_parts
from pricing_rules.errors import RuleFileError
from pricing_rules.loader import load_rules
from pricing_rules.overrides import apply_override
from pricing_rules.rules import RuleFile

PLAN = """\
plan: zendesk
version: 1
currency: usd
billing: {interval: month}
outcomes:
  resolved_conversation: {event: conversation.resolved}
charges:
  - {name: Platform fee, model: flat, price: "10.00"}
commitment:
  term: year
  units: {resolved_conversation: 12}
  price: "0.50"
  overage: {tiers: [{up_to: 10, unit_price: "1.20"}, {up_to: null, unit_price: "1.00"}]}
  true_up: at_term_end
"""

NO_COMMITMENT = PLAN.split("commitment:")[0]


def merged(text: str, plan: str = PLAN) -> RuleFile:
    return apply_override(text, load_rules(plan), "acme.yaml")


def mistakes(text: str, plan: str = PLAN) -> list[str]:
    with pytest.raises(RuleFileError) as caught:
        merged(text, plan)
    return [str(error) for error in caught.value.errors]


def test_units_prices_and_true_up_are_the_customers_term_and_outcome_the_plans() -> None:
    text = (
        "commitment:\n"
        "  units: {resolved_conversation: 20}\n"
        '  price: "0.45"\n'
        '  overage: {unit_price: "0.95"}\n'
        "  true_up: none\n"
    )
    commitment = merged(text).commitment
    assert commitment is not None
    assert (commitment.term, commitment.outcome, commitment.committed_units) == (
        12,
        "resolved_conversation",
        Decimal(20),
    )
    assert (commitment.price, commitment.true_up) == (Decimal("0.45"), "none")
    # The overage is replaced whole: a unit price instead of the plan's tiers.
    assert (commitment.overage.unit_price, commitment.overage.tiers) == (Decimal("0.95"), None)
    # 18 used before, 5 more: 2 under at 0.45 = 0.90, 3 over at 0.95 = 2.85.
    parts = commitment_parts(commitment, Position(Decimal(18)), Decimal(5), "usd")
    assert [(p.part, p.quantity, p.amount) for p in parts] == [
        ("committed", Decimal(2), Decimal("0.90")),
        ("overage", Decimal(3), Decimal("2.85")),
    ]


def test_keys_left_out_stay_the_plans() -> None:
    commitment = merged('commitment: {price: "0.40"}\n').commitment
    base = load_rules(PLAN).commitment
    assert commitment is not None and base is not None
    assert commitment.price == Decimal("0.40")
    assert commitment.model_copy(update={"price": base.price}) == base


def test_a_commitment_the_plan_does_not_have_is_refused_where_it_is_written() -> None:
    assert mistakes(
        'charges:\n  Platform fee: {price: "5"}\ncommitment: {price: "0.40"}\n', NO_COMMITMENT
    ) == [
        "acme.yaml:3:1: the plan has no commitment; an override changes the plan's "
        "commitment (units, amount, price, overage, true_up), it cannot add one: give the plan a "
        "commitment in a new version"
    ]


def test_a_term_and_an_unknown_key_are_located_together() -> None:
    text = 'commitment:\n  term: quarter\n  price: "0.40"\n  rollover: true\n'
    assert mistakes(text) == [
        "acme.yaml:2:9: the term cannot be overridden per customer: it starts with the "
        "customer's first subscription to the plan and runs across its versions, so another "
        "length would move the periods already billed into other terms; expected only units, "
        "amount, price, overage, true_up",
        "acme.yaml:4:3: unknown key 'rollover' in commitment override; expected one of units, "
        "amount, price, overage, true_up",
    ]


def test_another_outcome_and_bad_prices_are_located() -> None:
    text = 'commitment:\n  units: {handoff: 30}\n  price: "-0.40"\n  overage: {unit_price: "abc"}\n'
    assert mistakes(text) == [
        "acme.yaml:2:11: the plan commits units of 'resolved_conversation'; an override "
        "changes how many, not which outcome: expected {resolved_conversation: <units>}",
        "acme.yaml:3:10: must not be negative, got -0.40",
        "acme.yaml:4:25: 'abc' is not a number; expected a decimal such as \"0.99\"",
    ]


def test_an_overage_without_a_price_and_removing_the_commitment_are_refused() -> None:
    assert mistakes("commitment:\n  overage: {}\n") == [
        'acme.yaml:2:12: overage needs a price: expected unit_price (such as "1.20") or '
        'tiers for a units commitment, multiplier (such as "1.25") for an amount '
        "commitment, exactly one of them"
    ]
    assert mistakes("commitment: null\n") == [
        "acme.yaml:1:13: an override cannot remove the plan's commitment; expected the keys "
        "to change (units, amount, price, overage, true_up)"
    ]


def test_a_customer_without_a_true_up_pays_no_shortfall_at_the_term_end() -> None:
    plan = load_rules(PLAN).commitment
    own = merged("commitment: {true_up: none}\n").commitment
    assert plan is not None and own is not None
    end = Position(Decimal(5), ends_term=True)
    # 5 used before, 2 in the last period: the plan bills the 5 unused at 0.50 = 2.50.
    assert [p.amount for p in commitment_parts(plan, end, Decimal(2), "usd")] == [
        Decimal("1.00"),
        Decimal("2.50"),
    ]
    assert [p.amount for p in commitment_parts(own, end, Decimal(2), "usd")] == [Decimal("1.00")]
