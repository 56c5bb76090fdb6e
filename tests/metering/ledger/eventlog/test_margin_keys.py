"""Attribution inside ClickHouse gives the SQL path's margin report to the cent, also for
keys its `visitParam` functions cannot read exactly (nested properties, numbers, null,
escaped text), which it leaves to Python, and for costs split by a `group_by` value."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.surfaces.reports.margin import MarginReport
from metering.surfaces.reports.service import margin_report
from tests.metering.conftest import create_customer, create_plan, create_vendor
from tests.metering.ledger.eventlog.helpers import set_eventlog
from tests.metering.ledger.events.helpers import ingest_all
from tests.metering.surfaces.reports.helpers import REPORTED, RULES, at, money, tokens

GROUPED = RULES.replace(
    '    unit_price: "0.99"',
    '    group_by: properties.tier\n    prices: {gold: "2.00", default: "0.99"}',
)


def _vendor(engine: Engine, name: str, eventlog: bool, rules: str) -> str:
    vendor_id = create_vendor(engine, name).id
    set_eventlog(engine, vendor_id, eventlog)
    create_customer(engine, vendor_id, "acme", create_plan(engine, vendor_id, rules))
    return vendor_id


def _call(event_id: str, properties: dict[str, Any], cost: dict[str, Any], day: int) -> Any:
    return {
        "id": event_id,
        "type": "model.call",
        "customer": "acme",
        "timestamp": at(day, 9),
        "properties": properties,
        "cost": cost,
    }


def _resolved(event_id: str, conversation: Any, day: int, tier: str | None = None) -> Any:
    properties = {"conversation_id": conversation} | ({"tier": tier} if tier else {})
    return {
        "id": event_id,
        "type": "conversation.resolved",
        "customer": "acme",
        "timestamp": at(day, 12),
        "properties": properties,
    }


def _events() -> list[dict[str, Any]]:
    small = tokens("small", 10_000, 2_000)  # 0.0027
    return [
        _resolved("r-a", "a", 2, tier="gold"),
        _resolved("r-b", "b", 3),
        _resolved("r-7", "7", 4),
        _resolved("r-u", "ü", 5),
        _resolved("r-q", 'say "hi"', 6),
        _resolved("r-c", "c", 7) | {"cost": money("0.5")},  # held in SQL: its own outcome's
        _call("flat", {"conversation_id": "a"}, small, 2),
        _call("flat-2", {"conversation_id": "a", "step": 2}, money("0.01"), 2),
        _call("other", {"conversation_id": "b"}, tokens("gpt-4o", 1000, 100), 3),
        _call("nested", {"conversation_id": "b", "meta": {"conversation_id": "a"}}, small, 3),
        _call("nested-only", {"meta": {"conversation_id": "a"}}, small, 3),
        _call("listed", {"conversation_id": "a", "tags": ["x"]}, small, 3),
        _call("number", {"conversation_id": 7}, small, 4),
        _call("decimal", {"conversation_id": 7.0}, small, 4),
        _call("null", {"conversation_id": None}, small, 4),
        _call("absent", {"step": 1}, small, 4),
        _call("unicode", {"conversation_id": "ü"}, small, 5),
        _call("quoted", {"conversation_id": 'say "hi"'}, small, 6),
        _call("brace", {"conversation_id": "a", "note": "{x}"}, small, 6),
        _call("unknown", {"conversation_id": "z"}, small, 6),
        _call("empty", {"conversation_id": ""}, small, 6),
    ]


def _figures(report: MarginReport) -> list[Any]:
    return [
        (
            row.customer,
            row.attributed_cost,
            row.unbilled_cost,
            dict(row.unpriced),
            sorted(
                (
                    o.outcome,
                    o.revenue,
                    o.cost,
                    sorted((str(v), p.revenue, p.cost) for v, p in o.values.items()),
                )
                for o in row.outcomes.values()
            ),
        )
        for row in report.customers
    ]


def test_keys_clickhouse_cannot_read_are_attributed_as_in_sql(
    engine: Engine, eventlog_url: str
) -> None:
    plain = _vendor(engine, "Plain", False, GROUPED)
    logged = _vendor(engine, "Logged", True, GROUPED)
    for vendor_id in (plain, logged):
        ingest_all(engine, vendor_id, _events(), REPORTED)

    with Session(engine) as session:
        expected = margin_report(session, plain, "2026-11", REPORTED)
        found = margin_report(session, logged, "2026-11", REPORTED)
    assert _figures(found) == _figures(expected)
    (row,) = found.customers
    assert row.attributed_cost > Decimal("0.5")
    # unbilled: nested-only, null, absent, unknown, empty (5 x 0.0027)
    assert row.unbilled_cost == Decimal("0.0135")
    gold = row.outcomes["resolved_conversation"].values["gold"]
    # a: flat, listed, brace (3 x 0.0027) and 0.01; b's nested call stays with b
    assert gold.cost == Decimal("0.0181")


def test_without_an_attribution_key_every_cost_is_unbilled_as_in_sql(
    engine: Engine, eventlog_url: str
) -> None:
    rules = GROUPED.replace("  attribute_to: properties.conversation_id\n", "")
    plain = _vendor(engine, "Plain", False, rules)
    logged = _vendor(engine, "Logged", True, rules)
    for vendor_id in (plain, logged):
        ingest_all(engine, vendor_id, _events(), REPORTED)

    with Session(engine) as session:
        expected = margin_report(session, plain, "2026-11", REPORTED)
        found = margin_report(session, logged, "2026-11", REPORTED)
    assert _figures(found) == _figures(expected)
    assert found.customers[0].attributed_cost == Decimal("0.5")  # r-c's own cost
    assert found.customers[0].unbilled_cost > 0
