"""The shipped example rule files, priced on their example events to the cent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pricing_rules.engine import price_events
from pricing_rules.event_lines import read_event_lines
from pricing_rules.loader import load_rules_file
from pricing_rules.periods import period_from_label

EXAMPLES = Path(__file__).resolve().parents[2] / "pricing_rules" / "examples"


def price_example(rules: str, events: str) -> dict[str, Any]:
    rule_file = load_rules_file(EXAMPLES / rules)
    with (EXAMPLES / events).open() as handle:
        parsed = read_event_lines(handle)
    period = period_from_label("2026-11", rule_file.billing.interval, rule_file.billing.timezone)
    return price_events(rule_file, parsed, period).to_json()


def lines(customer: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(line["charge"], line["quantity"], line["amount"]) for line in customer["lines"]]


def test_support_agent() -> None:
    report = price_example("support-agent.yaml", "support-events.jsonl")
    assert report["period"] == {
        "start": "2026-11-01T00:00:00+00:00",
        "end": "2026-12-01T00:00:00+00:00",
    }
    acme, globex, initech = report["customers"]
    # c-1, c-2 (its second event is a duplicate), c-7, c-8 billable; c-5 reopened; c-9 pending.
    assert lines(acme) == [
        ("Resolved conversations", "4", "2.97"),
        ("Platform fee", "1", "20.00"),
    ]
    assert (acme["pending"], acme["reversed"], acme["total"]) == (
        {"resolved_conversation": 1},
        {"resolved_conversation": 1},
        "22.97",
    )
    assert lines(globex) == [
        ("Resolved conversations", "2", "0.99"),
        ("Platform fee", "1", "20.00"),
        ("Minimum spend true-up", "1", "1.01"),
    ]
    assert globex["total"] == "22.00"
    # initech only has an unbilled event this month: it still appears, with the minimum.
    assert initech["customer"] == "initech"
    assert lines(initech)[0] == ("Resolved conversations", "0", "0.00")
    assert initech["total"] == "22.00"


def test_sales_agent_period_is_cut_at_new_york_midnight() -> None:
    report = price_example("sales-agent.yaml", "sales-events.jsonl")
    assert report["period"]["start"] == "2026-11-01T04:00:00+00:00"
    assert report["period"]["end"] == "2026-12-01T05:00:00+00:00"
    (umbrella,) = report["customers"]
    assert lines(umbrella) == [("Qualified leads", "2", "9.00")]
    assert umbrella["reversed"] == {"qualified_lead": 1}
    assert umbrella["total"] == "9.00"


def test_deal_value_rounds_the_line_once() -> None:
    report = price_example("deal-value.yaml", "deal-events.jsonl")
    (hooli,) = report["customers"]
    # 50 (capped) + 1.00 (minimum) + 50 (capped) + 49.99995 = 150.99995 -> 151.00
    assert lines(hooli) == [("Deal commission", "2515373.33", "151.00")]
    assert report["currency"] == "eur"
    assert hooli["problems"] == [
        {"event": "deal_006", "outcome": "won_deal", "message": "properties.amount is missing"}
    ]


def test_support_outcomes_one_per_conversation_verified_and_rejected() -> None:
    """The README's reading: c-1 verified (0.99), c-2 qualified (9.99, its resolution
    superseded), c-3 not verified, c-4 handed off (0.99), c-5 rejected by its CSAT score,
    c-6 handed off and resolved without verification (the handoff, 0.99)."""
    report = price_example("support-outcomes.yaml", "support-outcomes-events.jsonl")
    [acme] = report["customers"]
    assert lines(acme) == [
        ("Qualified leads", "1", "9.99"),
        ("Resolutions", "1", "0.99"),
        ("Procedure handoffs", "2", "1.98"),
    ]
    assert acme["total"] == "12.96"


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_every_example_loads(name: str) -> None:
    assert load_rules_file(EXAMPLES / name).version >= 1
