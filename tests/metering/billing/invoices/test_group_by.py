"""Prices by dimension from storage: one invoice line per value, its rows, its corrections."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from metering.billing.invoices.service import upcoming
from metering.catalog.customers.models import Customer
from metering.catalog.subscriptions.schemas import Effective
from metering.ledger.outcomes.models import Outcome
from metering.ledger.plan_changes.service import give_override
from metering.surfaces.reports.schemas import customer_out
from metering.surfaces.reports.service import margin_report
from pricing_rules.engine import price_events
from pricing_rules.event_json import event_from_json
from pricing_rules.loader import load_rules
from pricing_rules.periods import period_containing
from tests.metering.billing.invoices.helpers import (
    OCTOBER,
    at,
    close,
    invoices,
    iso,
    lines,
    send,
    summary,
)
from tests.metering.conftest import VendorFixture, create_customer, create_plan
from tests.metering.platform.api.support import bearer
from tests.metering.surfaces.portal.helpers import sign_in
from tests.metering.surfaces.portal.test_invoices_pages import text_of

RULES = """\
plan: tasks
version: 1
currency: usd
billing: {{interval: month, timezone: UTC, close_after: 72h}}
outcomes:
  task:
    event: task.completed
    unique_by: properties.task_id
    settle:
      reversed_by: {{event: task.reopened, match: properties.task_id}}
charges:
{charges}
  - {{name: Platform fee, model: flat, price: "10.00"}}
"""

PER_MODEL = RULES.format(
    charges="""\
  - name: Tasks
    outcome: task
    model: per_unit
    group_by: properties.model
    prices: {gpt-4o: "2.00", claude: "1.50", default: "0.50"}"""
)

TIERED = """\
  - name: Tasks
    outcome: task
    model: graduated
    group_by: properties.model
    {across}
    prices:
      gpt-4o: [{{up_to: 2, unit_price: "3.00"}}, {{up_to: null, unit_price: "1.00"}}]
      default: [{{up_to: 2, unit_price: "1.00"}}, {{up_to: null, unit_price: "0.40"}}]"""


def task(event_id: str, when: datetime, model: str | None) -> dict[str, Any]:
    properties: dict[str, Any] = {"task_id": event_id}
    if model is not None:
        properties["model"] = model
    return {
        "id": event_id,
        "type": "task.completed",
        "customer": "acme",
        "timestamp": iso(when),
        "properties": properties,
    }


OCTOBER_TASKS = [
    task("t1", at(2), "gpt-4o"),
    task("t2", at(3), "claude"),
    task("t3", at(4), "gpt-4o"),
    task("t4", at(5), "mistral"),
    task("t5", at(6), "claude"),
    task("t6", at(7), "gpt-4o"),
    task("t7", at(8), None),
]


def closed_october(engine: Engine, vendor: VendorFixture, rules: str, events: list[Any]) -> str:
    plan = create_plan(engine, vendor.id, rules)
    create_customer(engine, vendor.id, "acme", plan, starts_at=OCTOBER)
    send(engine, vendor.id, events, at(25))
    close(engine, at(5, month=11))
    [october] = invoices(engine)
    return october.id


def ids_of(engine: Engine, *event_ids: str) -> list[int]:
    with Session(engine) as session:
        rows = session.exec(select(Outcome).where(col(Outcome.event_id).in_(event_ids))).all()
        return sorted(row.id for row in rows if row.id is not None)


def test_one_line_per_model_each_at_its_price_with_its_rows(
    engine: Engine, vendor: VendorFixture
) -> None:
    october = closed_october(engine, vendor, PER_MODEL, OCTOBER_TASKS)

    assert summary(engine, october) == [
        ("charge", "Tasks (claude)", "3.00"),  # 2 x 1.50
        ("charge", "Tasks (gpt-4o)", "6.00"),  # 3 x 2.00
        ("charge", "Tasks (mistral)", "0.50"),  # not listed: the default
        ("charge", "Tasks ((none))", "0.50"),  # no model: the default
        ("charge", "Platform fee", "10.00"),
    ]
    stored = lines(engine, october)
    assert [sorted(line.outcome_ids) for line in stored[:4]] == [
        ids_of(engine, "t2", "t5"),
        ids_of(engine, "t1", "t3", "t6"),
        ids_of(engine, "t4"),
        ids_of(engine, "t7"),
    ]
    assert stored[1].detail["group"] == {"path": "properties.model", "value": "gpt-4o"}
    assert stored[3].detail["group"] == {"path": "properties.model", "value": None}
    assert [line.quantity for line in stored[:4]] == [Decimal(2), Decimal(3), 1, 1]


def test_the_close_bills_what_the_core_prices(engine: Engine, vendor: VendorFixture) -> None:
    october = closed_october(engine, vendor, PER_MODEL, OCTOBER_TASKS)
    rules = load_rules(PER_MODEL)
    period = period_containing(at(2), "month", "UTC")
    (customer,) = price_events(
        rules, [event_from_json(e) for e in OCTOBER_TASKS], period, at(4, month=11)
    ).customers
    assert [(line.description, line.amount) for line in lines(engine, october)] == [
        (line.charge, line.amount) for line in customer.invoice.lines
    ]


def _tiered_october(engine: Engine, vendor: VendorFixture, across: str) -> list[Any]:
    """3 gpt-4o and 3 llama tasks closed under the tiered charge; its two lines."""
    rules = RULES.format(charges=TIERED.format(across=across))
    events = [task(f"t{i}", at(i + 2), m) for i, m in enumerate(["gpt-4o"] * 3 + ["llama"] * 3)]
    return summary(engine, closed_october(engine, vendor, rules, events))[:2]


def test_tiers_count_per_model(engine: Engine, vendor: VendorFixture) -> None:
    # gpt-4o: 2 x 3.00 + 1 x 1.00; llama (default): 2 x 1.00 + 1 x 0.40
    assert _tiered_october(engine, vendor, "") == [
        ("charge", "Tasks (gpt-4o)", "7.00"),
        ("charge", "Tasks (llama)", "2.40"),
    ]


def test_tiers_across_all_count_every_model(engine: Engine, vendor: VendorFixture) -> None:
    # 6 tasks in all. gpt-4o's tiers price 6 units at 2 x 3.00 + 4 x 1.00 = 10.00, its 3
    # tasks pay 3/6 = 5.00; the default's 2 x 1.00 + 4 x 0.40 = 3.60, llama's half 1.80.
    assert _tiered_october(engine, vendor, "tiers_across: all") == [
        ("charge", "Tasks (gpt-4o)", "5.00"),
        ("charge", "Tasks (llama)", "1.80"),
    ]


def test_a_reversal_after_the_invoice_credits_only_its_model(
    engine: Engine, vendor: VendorFixture
) -> None:
    october = closed_october(engine, vendor, PER_MODEL, OCTOBER_TASKS)
    reopen = {
        "id": "o1",
        "type": "task.reopened",
        "customer": "acme",
        "timestamp": iso(at(30)),
        "properties": {"task_id": "t3"},
    }
    send(engine, vendor.id, [reopen], at(10, month=11))

    close(engine, at(5, month=12))

    november = invoices(engine)[1]
    assert summary(engine, november.id) == [
        ("charge", "Platform fee", "10.00"),
        ("credit", "Correction of invoice #1: Tasks (gpt-4o)", "-2.00"),
    ]
    credit = lines(engine, november.id)[-1]
    assert credit.corrects_invoice_id == october
    assert credit.outcome_ids == ids_of(engine, "t3")
    assert credit.quantity == Decimal(-1)


def test_the_upcoming_invoice_shows_each_model(engine: Engine, vendor: VendorFixture) -> None:
    plan = create_plan(engine, vendor.id, PER_MODEL)
    customer_id = create_customer(engine, vendor.id, "acme", plan, starts_at=OCTOBER)
    send(engine, vendor.id, OCTOBER_TASKS[:3], at(25))
    with Session(engine) as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None
        shown = upcoming(session, customer, at(26))
    assert [(line.description, str(line.amount)) for line in shown.lines] == [
        ("Tasks (claude)", "1.50"),
        ("Tasks (gpt-4o)", "4.00"),
        ("Platform fee", "10.00"),
    ]


def _costly(event: dict[str, Any], amount: str) -> dict[str, Any]:
    return event | {"cost": {"amount": amount, "currency": "usd"}}


def _by_value(item: Any) -> dict[str | None, tuple[int, Decimal, Decimal]]:
    return {value: (part.settled, part.revenue, part.cost) for value, part in item.values.items()}


def test_the_margin_report_splits_an_outcome_by_model(
    engine: Engine, vendor: VendorFixture
) -> None:
    events = [_costly(e, "0.10") for e in OCTOBER_TASKS[:3]] + OCTOBER_TASKS[3:]
    closed_october(engine, vendor, PER_MODEL, events)
    reopen = {
        "id": "o1",
        "type": "task.reopened",
        "customer": "acme",
        "timestamp": iso(at(30)),
        "properties": {"task_id": "t3"},
    }
    send(engine, vendor.id, [reopen], at(10, month=11))
    close(engine, at(5, month=12))  # credits t3's 2.00 on gpt-4o's line

    with Session(engine) as session:
        (row,) = margin_report(session, vendor.id, "2026-10", at(6, month=12)).customers
    task = row.outcomes["task"]
    # t3 (gpt-4o) was reopened: its 2.00 credited, its 0.10 cost now unbilled.
    assert (task.settled, task.revenue, task.cost) == (6, Decimal("8.00"), Decimal("0.20"))
    assert _by_value(task) == {
        "claude": (2, Decimal("3.00"), Decimal("0.10")),
        "gpt-4o": (2, Decimal("4.00"), Decimal("0.10")),  # 6.00 invoiced, 2.00 credited
        "mistral": (1, Decimal("0.50"), Decimal(0)),
        None: (1, Decimal("0.50"), Decimal(0)),
    }
    assert (row.other_revenue, row.unbilled_cost) == (Decimal("10.00"), Decimal("0.10"))
    out = customer_out(row).outcomes[0]
    assert [(v.value, v.revenue) for v in out.values] == [
        ("claude", "3.00"),
        ("gpt-4o", "4.00"),
        ("mistral", "0.50"),
        (None, "0.50"),
    ]


def test_the_portal_shows_each_model_line_and_its_outcomes(
    app_client: TestClient, engine: Engine, vendor: VendorFixture
) -> None:
    october = closed_october(engine, vendor, PER_MODEL, OCTOBER_TASKS)
    customer_id = invoices(engine)[0].customer_id
    sign_in(app_client, vendor.api_key, customer_id)

    page = text_of(app_client.get(f"/portal/invoices/{october}").text)

    assert "Tasks (claude) 2 tasks; $1.50 each 2 outcomes behind this line 2 $3.00" in page
    assert "Tasks (gpt-4o) 3 tasks; $2.00 each 3 outcomes behind this line 3 $6.00" in page
    assert "Tasks (none) 1 task; $0.50 each 1 outcome behind this line 1 $0.50" in page
    gpt = lines(engine, october)[1]
    behind = app_client.get("/portal/outcomes", params={"invoice": october, "line": gpt.id}).text
    assert sorted(re.findall(r"\bt[0-9]\b", text_of(behind))) == ["t1", "t3", "t6"]


def test_a_summed_outcome_billed_by_value_and_in_total_matches_the_core(
    engine: Engine, vendor: VendorFixture
) -> None:
    rules = """\
plan: tokens
version: 1
currency: usd
billing: {interval: month, timezone: UTC, close_after: 72h}
outcomes:
  call:
    event: model.called
    measure: {sum: properties.tokens}
  seen:
    event: model.called
    measure: {unique: properties.user}
charges:
  - name: Tokens by model
    outcome: call
    model: per_unit
    group_by: properties.model
    prices: {gpt-4o: "0.002", default: "0.001"}
  - name: Tokens in all
    outcome: call
    model: volume
    tiers: [{up_to: 100, unit_price: "0.01"}, {up_to: null, unit_price: "0.005"}]
  - name: Users by model
    outcome: seen
    model: per_unit
    group_by: properties.model
    prices: {default: "1.00"}
  - {name: Users, outcome: seen, model: per_unit, unit_price: "0.10"}
"""
    calls = [
        ("gpt-4o", 40, "u1"),
        ("gpt-4o", 35, "u2"),
        ("llama", 50, "u1"),
        ("llama", 7, "u1"),
        (None, 3, "u3"),
    ]
    events = [
        {
            "id": f"e{n}",
            "type": "model.called",
            "customer": "acme",
            "timestamp": iso(at(n + 2)),
            "properties": {"tokens": tokens, "user": user} | ({"model": model} if model else {}),
        }
        for n, (model, tokens, user) in enumerate(calls)
    ]
    october = closed_october(engine, vendor, rules, events)
    assert summary(engine, october) == [
        ("charge", "Tokens by model (gpt-4o)", "0.15"),  # 75 x 0.002
        ("charge", "Tokens by model (llama)", "0.06"),  # 57 x 0.001 = 0.057
        ("charge", "Tokens by model ((none))", "0.00"),  # 3 x 0.001 = 0.003
        ("charge", "Tokens in all", "0.68"),  # 135 tokens, tier 2: x 0.005 = 0.675
        ("charge", "Users by model (gpt-4o)", "2.00"),  # u1, u2
        ("charge", "Users by model (llama)", "1.00"),  # u1
        ("charge", "Users by model ((none))", "1.00"),  # u3
        ("charge", "Users", "0.30"),  # u1, u2, u3 once each
    ]
    core = load_rules(rules)
    period = period_containing(at(2), "month", "UTC")
    (customer,) = price_events(
        core, [event_from_json(e) for e in events], period, at(4, month=11)
    ).customers
    assert [line.amount for line in lines(engine, october)] == [
        line.amount for line in customer.invoice.lines
    ]


def test_a_customers_own_prices_by_model_replace_the_plans_map(
    app_client: TestClient, engine: Engine, vendor: VendorFixture
) -> None:
    """An override of a grouped charge gives the whole map, its default included; the margin
    report keeps the customer under its plan, marked overridden, still split by model."""
    plan = create_plan(engine, vendor.id, PER_MODEL)
    customer_id = create_customer(engine, vendor.id, "acme", plan, starts_at=OCTOBER)
    own = 'charges:\n  Tasks:\n    prices: {gpt-4o: "1.20", default: "0.30"}\n'
    with Session(engine) as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None
        give_override(session, customer, own, "acme.yaml", Effective.NEXT_PERIOD, at(20))
        session.commit()
    shown = app_client.get(
        f"/v1/customers/{customer_id}/overrides/1", headers=bearer(vendor.api_key)
    ).json()
    assert shown["base"]["charges"][0]["prices"] == {
        "gpt-4o": "2.00",
        "claude": "1.50",
        "default": "0.50",
    }
    assert shown["merged"]["charges"][0]["prices"] == {"gpt-4o": "1.20", "default": "0.30"}
    november = [
        task(e["id"], at(i + 2, month=11), e["properties"].get("model"))
        for i, e in enumerate(OCTOBER_TASKS)
    ]
    send(engine, vendor.id, november, at(25, month=11))
    close(engine, at(5, month=11))
    close(engine, at(5, month=12))
    october, own_prices = invoices(engine)
    assert summary(engine, october.id) == [("charge", "Platform fee", "10.00")]
    assert summary(engine, own_prices.id) == [
        ("charge", "Tasks (claude)", "0.60"),  # no longer listed: 2 x the customer's 0.30
        ("charge", "Tasks (gpt-4o)", "3.60"),  # 3 x 1.20
        ("charge", "Tasks (mistral)", "0.30"),
        ("charge", "Tasks ((none))", "0.30"),
        ("charge", "Platform fee", "10.00"),
    ]
    with Session(engine) as session:
        (row,) = margin_report(session, vendor.id, "2026-11", at(6, month=12)).customers
    assert row.overridden is True
    assert {
        value: revenue for value, (_, revenue, _) in _by_value(row.outcomes["task"]).items()
    } == {
        "claude": Decimal("0.60"),
        "gpt-4o": Decimal("3.60"),
        "mistral": Decimal("0.30"),
        None: Decimal("0.30"),
    }
