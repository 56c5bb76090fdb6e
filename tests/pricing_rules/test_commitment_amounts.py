"""Amount commitments in the pure core: 120,000.00 over a year billed monthly, spent at the
plan's prices (3.00 a resolution); past it, spend is billed at 1.25x. Hand-computed."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pricing_rules.commitments import Position, crossing_split, spend_split
from pricing_rules.pricing import MeasuredUsage, price_usage
from pricing_rules.rules import RuleFile
from pricing_rules.schema import rule_file_schema
from tests.pricing_rules.helpers import errors, load

BASE = """\
plan: spend
version: 1
currency: usd
billing: {interval: month}
outcomes:
  resolved:
    event: conversation.resolved
charges:
  - {name: Resolutions, outcome: resolved, model: per_unit, unit_price: "3.00"}
"""
YEAR = """\
commitment:
  term: year
  amount: "120000.00"
  overage: {multiplier: "1.25"}
  true_up: at_term_end
"""


def rules(commitment: str = YEAR, base: str = BASE) -> RuleFile:
    return load(base + commitment)


def lines(plan: RuleFile, resolutions: int, spent_before: str, ends_term: bool = False) -> list:
    usage = {"resolved": MeasuredUsage(quantity=Decimal(resolutions), events=resolutions)}
    position = Position(used_before=Decimal(spent_before), ends_term=ends_term)
    priced = price_usage(plan, usage, position)
    return [
        (line.kind, line.part, line.quantity, line.amount, line.charge) for line in priced.lines
    ]


def test_the_section_reads_as_written() -> None:
    commitment = rules().commitment
    assert commitment is not None
    assert (commitment.amount, commitment.by_amount, commitment.term) == (
        Decimal("120000.00"),
        True,
        12,
    )
    assert commitment.overage.multiplier == Decimal("1.25")
    assert commitment.periods_per_term("month") == 12


def test_under_the_commitment_the_charges_bill_and_the_spend_is_drawn() -> None:
    # Month 3: 4,000 resolutions = 12,000.00, after 29,000.00 spent in months 1-2.
    assert lines(rules(), 4000, "29000.00") == [
        ("charge", None, Decimal(4000), Decimal("12000.00"), "Resolutions"),
        (
            "commitment",
            "committed",
            Decimal("12000.00"),
            Decimal("0.00"),
            "Commitment drawn (12000 of the 120000 committed, 79000 left)",
        ),
    ]


def test_month_9_crosses_inside_one_outcome_to_the_cent() -> None:
    # Months 1-8 spent 116,000.00; month 9 has 2,000 resolutions (6,000.00): 4,000.00 fit
    # under the commitment, 2,000.00 are past it and cost 25% more: 500.00.
    priced = lines(rules(), 2000, "116000.00")
    assert priced[1:] == [
        (
            "commitment",
            "committed",
            Decimal("4000.00"),
            Decimal("0.00"),
            "Commitment drawn (4000 of the 120000 committed, 0 left)",
        ),
        (
            "commitment",
            "overage",
            Decimal("2000.00"),
            Decimal("500.00"),
            "Commitment overage (2000 spent past the 120000 committed, billed at 1.25x the "
            "plan's prices)",
        ),
    ]
    assert sum(amount for *_, amount, _ in priced) == Decimal("6500.00")
    # The crossing outcome: 4,000.00 / 3.00 = 1,333.33 resolutions fit, so the 1,334th is
    # 1.00 under and 2.00 over, and every later one is past it.
    under, over = crossing_split(Decimal("4000.00"), [(n, Decimal("3.00")) for n in range(2000)])
    assert (len(under), under[-1], over[0], len(over)) == (1334, 1333, 1333, 667)


def test_the_crossing_outcome_is_found_from_the_periods_spend() -> None:
    # The same month by its spend with the first k outcomes (the 200.00 platform fee of a
    # plan with one spends before any): 3,800.00 fit after the fee, so the 1,267th (the
    # period spends 3,998.00 before it, 4,001.00 with it) is under and past it.
    calls: list[int] = []

    def spend(k: int) -> Decimal:
        calls.append(k)
        return Decimal("200.00") + 3 * k

    assert spend_split(spend, 2000, Decimal("4000.00")) == (1267, 1266)
    assert len(calls) <= 2 * 12  # bisection, not one pricing per outcome
    calls.clear()
    assert spend_split(spend, 2000, Decimal("7000.00")) == (2000, 2000)  # all under it
    assert calls == [2000]  # a period before the crossing is priced once


@pytest.mark.parametrize("remaining", ["0", "5", "6", "6.5", "12", "13", "100"])
def test_the_spend_split_is_the_units_split_of_each_outcomes_price(remaining: str) -> None:
    # Outcomes of 3.00, 0 (free), 1.50, 0, 3.00, 2.00 after a 1.00 fee: each is on the side
    # `crossing_split` puts a units outcome of that many units, whatever the remaining.
    prices = [Decimal(p) for p in ("3.00", "0", "1.50", "0", "3.00", "2.00")]
    left = Decimal(remaining)
    under, over = crossing_split(left - 1, list(enumerate(prices)))
    found = spend_split(lambda k: 1 + sum(prices[:k], Decimal(0)), len(prices), left)
    assert (list(range(found[0])), list(range(found[1], len(prices)))) == (under, over)


def test_past_the_commitment_every_cent_is_overage() -> None:
    assert lines(rules(), 1001, "126000.00")[2] == (
        "commitment",
        "overage",
        Decimal("3003.00"),
        Decimal("750.75"),
        "Commitment overage (3003 spent past the 120000 committed, billed at 1.25x the "
        "plan's prices)",
    )


def test_a_discount_past_the_commitment_is_a_negative_line() -> None:
    plan = rules(YEAR.replace('"1.25"', '"0.80"'))
    assert lines(plan, 1000, "119000.50")[2][3] == Decimal("-400.10")  # 2000.50 x -0.20


def test_the_last_period_bills_the_shortfall() -> None:
    # 95,000.00 spent in months 1-11, 5,000.00 in month 12: 20,000.00 unspent.
    assert lines(rules(), 1666, "95000.00", ends_term=True)[1:] == [
        (
            "commitment",
            "committed",
            Decimal("4998.00"),
            Decimal("0.00"),
            "Commitment drawn (4998 of the 120000 committed, 20002 left)",
        ),
        (
            "commitment",
            "true_up",
            Decimal("20002.00"),
            Decimal("20002.00"),
            "Commitment shortfall true-up (20002 of the 120000 committed unspent)",
        ),
    ]
    none = rules(YEAR.replace("at_term_end", "none"))
    assert [line[1] for line in lines(none, 1666, "95000.00", ends_term=True)] == [
        None,
        "committed",
    ]


def test_the_minimum_counts_as_spend() -> None:
    plan = rules(base=BASE + 'minimum: "100.00"\n')
    assert lines(plan, 10, "0")[2][2] == Decimal("100.00")  # 30.00 of charges + 70.00 minimum


@pytest.mark.parametrize(
    ("commitment", "expected"),
    [
        (
            YEAR.replace('amount: "120000.00"', 'amount: "120000.00"\n  units: {resolved: 5}'),
            "plan.yaml:12:11: a commitment commits units of one outcome or an amount of spend; "
            "expected exactly one of units and amount, got both",
        ),
        (
            YEAR.replace('  amount: "120000.00"\n', ""),
            "plan.yaml:11:3: a commitment commits units of one outcome or an amount of spend; "
            "expected exactly one of units and amount, got neither",
        ),
        (
            YEAR.replace('"120000.00"', '"0"'),
            "plan.yaml:12:11: a committed amount must be above zero, got 0",
        ),
        (
            YEAR.replace('"120000.00"', '"-5.00"'),
            "plan.yaml:12:11: must not be negative, got -5.00",
        ),
        (
            YEAR.replace('"120000.00"', '"120000.005"'),
            "plan.yaml:12:11: 120000.005 has more decimals than usd has (2); expected an amount "
            "such as 120000.00",
        ),
        (
            YEAR.replace("year", '"5 months"'),
            "plan.yaml:11:9: a term of 5 month(s) is not a whole number of quarter billing "
            "periods; expected a term made of whole periods (billing.interval is quarter)",
        ),
        (
            YEAR.replace('{multiplier: "1.25"}', "{}"),
            'plan.yaml:13:12: overage needs a price: expected unit_price (such as "1.20") or '
            'tiers for a units commitment, multiplier (such as "1.25") for an amount '
            "commitment, exactly one of them",
        ),
        (
            YEAR.replace('{multiplier: "1.25"}', '{unit_price: "1.20"}'),
            "plan.yaml:13:25: an amount commitment's overage is a multiplier of the plan's "
            'prices; expected multiplier (such as "1.25"), not unit_price',
        ),
        (
            YEAR.replace("  overage:", '  price: "0.50"\n  overage:'),
            "plan.yaml:13:10: an amount commitment is spent at the plan's prices; expected no "
            "price (price is each committed unit's, for units)",
        ),
    ],
)
def test_mistakes_are_located(commitment: str, expected: str) -> None:
    base = BASE
    if "5 months" in commitment:
        base = BASE.replace("{interval: month}", "{interval: quarter}")
    assert expected in errors(base + commitment)


def test_the_json_schema_offers_amount_and_multiplier() -> None:
    schema = rule_file_schema()
    definitions = schema["$defs"]
    assert "amount" in definitions["Commitment"]["properties"]
    assert "multiplier" in definitions["Overage"]["properties"]
