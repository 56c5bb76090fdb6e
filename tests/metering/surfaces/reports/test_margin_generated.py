"""A generated month (seeded): the report's figures agree with a plain recount.

The recount prices every event's cost with the core and sends it to its conversation's
counted outcome (the rule file's `unique_by` is its `attribute_to`, so a conversation has at
most one) or to unbilled; revenue is 0.99 per settled outcome plus the 20.00 fee.
"""

from __future__ import annotations

import random
from collections import Counter
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from metering.ledger.outcomes.models import Outcome
from metering.ledger.states import OutcomeState
from metering.surfaces.reports.service import margin_report
from pricing_rules.costs import event_cost
from pricing_rules.loader import load_rules
from tests.metering.conftest import VendorFixture, create_customer, create_plan
from tests.metering.ledger.events.helpers import ingest_all
from tests.metering.surfaces.reports.helpers import REPORTED, RULES, at, call, money, reopen, tokens

CUSTOMERS = ("acme", "globex", "initech")


def generated_month(seed: int = 3) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    for n in range(300):
        customer = CUSTOMERS[n % 3]
        conversation = f"c-{rng.randrange(60)}-{customer}"
        when = at(rng.randrange(1, 29), rng.randrange(24))
        roll = rng.random()
        if roll < 0.6:
            cost = rng.choice(
                [
                    tokens("gpt-4o", rng.randrange(3000), rng.randrange(500)),
                    tokens("small", rng.randrange(9000), rng.randrange(900)),
                    tokens("gpt-9", 10, 10),
                    money(str(Decimal(rng.randrange(1, 900)).scaleb(-4))),
                ]
            )
            events.append(call(f"e-{n}", conversation, cost, when, customer))
        elif roll < 0.9:
            events.append(
                {
                    "id": f"e-{n}",
                    "type": "conversation.resolved",
                    "customer": customer,
                    "timestamp": when,
                    "properties": {"conversation_id": conversation},
                }
            )
        else:
            events.append(reopen(f"e-{n}", conversation, when) | {"customer": customer})
    return events


def test_generated_month_adds_up(engine: Engine, vendor: VendorFixture) -> None:
    plan = create_plan(engine, vendor.id, RULES)
    for name in CUSTOMERS:
        create_customer(engine, vendor.id, name, plan)
    events = generated_month()
    ingest_all(engine, vendor.id, events, REPORTED)
    rules = load_rules(RULES, "rules.yaml")
    with Session(engine) as session:
        counted = {
            (row.customer_id, row.dedupe_key): row.settles_at <= REPORTED
            for row in session.exec(
                select(Outcome).where(Outcome.state == OutcomeState.COUNTED.value)
            )
        }
        report = margin_report(session, vendor.id, "2026-11", REPORTED)
    by_name = {row.customer: row for row in report.customers}
    assert sorted(by_name) == list(CUSTOMERS)
    for name in CUSTOMERS:
        row = by_name[name]
        attributed = unbilled = Decimal(0)
        unpriced: Counter[str] = Counter()
        for event in events:
            if event["customer"] != name or "cost" not in event:
                continue
            priced = event_cost(rules, event["cost"])
            assert priced is not None
            if priced.amount is None:
                unpriced[str(priced.problem)] += 1
            elif (row.customer_id, event["properties"]["conversation_id"]) in counted:
                attributed += priced.amount
            else:
                unbilled += priced.amount
        settled = sum(1 for (c, _), done in counted.items() if c == row.customer_id and done)
        resolved = row.outcomes["resolved_conversation"]
        assert (resolved.cost, row.unbilled_cost) == (attributed, unbilled)
        assert row.unpriced == unpriced
        assert resolved.settled == settled
        assert resolved.revenue == Decimal("0.99") * settled
        assert row.margin == Decimal("0.99") * settled + Decimal("20.00") - attributed - unbilled
    (totals,) = report.totals
    assert totals.cost == sum((row.cost for row in report.customers), Decimal(0))
    assert totals.unpriced_events > 0 and totals.unbilled_cost > 0 and totals.attributed_cost > 0
