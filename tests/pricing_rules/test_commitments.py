"""Commitments in the pure core: the rule-file section, its located errors, and the exact
split of a period at the crossing."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from pricing_rules.commitments import (
    Position,
    commitment_parts,
    crossing_split,
    term_containing,
)
from pricing_rules.pricing import MeasuredUsage, price_usage
from pricing_rules.rules import RuleFile
from tests.pricing_rules.helpers import errors, load

BASE = """\
plan: zendesk
version: 1
currency: usd
billing: {interval: month}
outcomes:
  resolved:
    event: conversation.resolved
  value:
    event: deal.closed
    measure: {sum: properties.amount}
charges:
  - {name: Platform fee, model: flat, price: "10.00"}
"""


def rules(commitment: str, base: str = BASE) -> RuleFile:
    return load(base + commitment)


YEAR = """\
commitment:
  term: year
  units: {resolved: 12}
  price: "0.50"
  overage: {unit_price: "1.20"}
"""


def test_the_section_reads_as_written() -> None:
    commitment = rules(YEAR).commitment
    assert commitment is not None
    assert (commitment.outcome, commitment.committed_units, commitment.term) == (
        "resolved",
        Decimal(12),
        12,
    )
    assert commitment.true_up == "at_term_end"
    assert commitment.periods_per_term("month") == 12
    assert rules(YEAR.replace("year", '"6 months"')).commitment.term == 6  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("commitment", "expected"),
    [
        (
            YEAR.replace("year", '"4 months"'),
            "plan.yaml:14:9: a term of 4 month(s) is not a whole number of quarter billing "
            "periods; expected a term made of whole periods (billing.interval is quarter)",
        ),
        (
            YEAR.replace('{unit_price: "1.20"}', "{}"),
            'plan.yaml:17:12: overage needs a price: expected unit_price (such as "1.20") or '
            'tiers for a units commitment, multiplier (such as "1.25") for an amount '
            "commitment, exactly one of them",
        ),
        (
            YEAR.replace("{resolved: 12}", "{closed: 12}"),
            "plan.yaml:15:19: commitment refers to unknown outcome 'closed'; expected one of "
            "the outcomes of this file (resolved, value)",
        ),
        (
            YEAR.replace("year", "fortnight"),
            'plan.yaml:14:9: expected year, quarter, month or "N months" (such as "6 months"), '
            "got 'fortnight'",
        ),
    ],
)
def test_mistakes_are_located(commitment: str, expected: str) -> None:
    base = BASE.replace("{interval: month}", "{interval: quarter}")
    assert expected in errors(base + commitment)


def test_an_outcome_priced_by_the_commitment_and_a_charge_is_an_error() -> None:
    base = BASE + '  - {outcome: resolved, model: per_unit, unit_price: "1"}\n'
    assert errors(base + YEAR) == [
        "plan.yaml:13:15: outcome 'resolved' is priced by the commitment (its price and "
        "overage); expected no charge for it"
    ]


def test_a_weekly_plan_cannot_commit_by_months() -> None:
    base = BASE.replace("{interval: month}", "{interval: week}")
    assert "not a whole number of week billing periods" in errors(base + YEAR)[0]


def test_invoice_at_below_zero_is_located() -> None:
    base = BASE.replace("{interval: month}", '{interval: month, invoice_at: {amount: "-1"}}')
    assert errors(base) == ["plan.yaml:4:49: must not be negative, got -1"]


def test_the_crossing_period_splits_exactly() -> None:
    commitment = rules(YEAR).commitment
    assert commitment is not None
    parts = commitment_parts(commitment, Position(Decimal(9)), Decimal(5), "usd")
    assert [(p.part, p.quantity, p.amount) for p in parts] == [
        ("committed", Decimal(3), Decimal("1.50")),
        ("overage", Decimal(2), Decimal("2.40")),
    ]
    assert crossing_split(Decimal(3), [(i, Decimal(1)) for i in "abcde"]) == (
        ["a", "b", "c"],
        ["d", "e"],
    )


def test_a_summed_outcome_is_split_inside_the_crossing_event() -> None:
    assert crossing_split(Decimal("2.5"), [("a", Decimal(2)), ("b", Decimal(2))]) == (
        ["a", "b"],
        ["b"],
    )
    commitment = rules(YEAR.replace("{resolved: 12}", "{value: 100}")).commitment
    assert commitment is not None
    parts = commitment_parts(commitment, Position(Decimal("97.5")), Decimal(4), "usd")
    assert [(p.quantity, p.amount) for p in parts] == [
        (Decimal("2.5"), Decimal("1.25")),
        (Decimal("1.5"), Decimal("1.80")),
    ]


def test_overage_tiers_count_over_the_term() -> None:
    tiers = '{tiers: [{up_to: 2, unit_price: "2.00"}, {up_to: null, unit_price: "1.00"}]}'
    commitment = rules(YEAR.replace('{unit_price: "1.20"}', tiers)).commitment
    assert commitment is not None
    # One overage unit already in the term: the next 3 are 1 at 2.00 and 2 at 1.00.
    parts = commitment_parts(commitment, Position(Decimal(13)), Decimal(3), "usd")
    assert [(p.part, p.amount) for p in parts] == [
        ("committed", Decimal("0.00")),
        ("overage", Decimal("4.00")),
    ]


def test_the_shortfall_is_trued_up_at_term_end_only() -> None:
    commitment = rules(YEAR).commitment
    assert commitment is not None
    parts = commitment_parts(commitment, Position(Decimal(8), ends_term=True), Decimal(1), "usd")
    assert parts[-1].part == "true_up"
    assert (parts[-1].quantity, parts[-1].amount) == (Decimal(3), Decimal("1.50"))
    none = rules(YEAR + "  true_up: none\n").commitment
    assert none is not None
    assert [
        p.part for p in commitment_parts(none, Position(Decimal(0), True), Decimal(0), "usd")
    ] == ["committed"]


def test_commitment_lines_come_after_the_minimum() -> None:
    plan = rules(YEAR, BASE + 'minimum: "20.00"\n')
    priced = price_usage(plan, {"resolved": MeasuredUsage(quantity=Decimal(2))})
    assert [(line.kind, line.amount) for line in priced.lines] == [
        ("charge", Decimal("10.00")),
        ("minimum", Decimal("10.00")),
        ("commitment", Decimal("1.00")),
    ]


def test_a_term_starts_with_the_subscription_and_runs_in_whole_periods() -> None:
    anchor = datetime(2026, 1, 15, tzinfo=UTC)
    first = term_containing(anchor, datetime(2026, 3, 31, tzinfo=UTC), "month", "UTC", 3)
    second = term_containing(anchor, datetime(2026, 4, 1, tzinfo=UTC), "month", "UTC", 3)
    # The first, cut month counts as one period of the term.
    assert (first.start, first.end, first.number) == (anchor, datetime(2026, 4, 1, tzinfo=UTC), 1)
    assert (second.start, second.end, second.number) == (
        datetime(2026, 4, 1, tzinfo=UTC),
        datetime(2026, 7, 1, tzinfo=UTC),
        2,
    )
