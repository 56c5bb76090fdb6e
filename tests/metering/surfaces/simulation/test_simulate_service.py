"""Simulating on stored history: the current side equals the invoices, to the cent (both DBs)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, select

from metering.catalog.customers.models import Customer
from metering.catalog.plans.models import Plan
from metering.catalog.subscriptions.schemas import Effective
from metering.catalog.vendors.models import Vendor
from metering.ledger.disputes.service import accept, file
from metering.ledger.outcomes.models import Outcome
from metering.ledger.plan_changes.service import subscribe
from metering.surfaces.simulation.readonly import read_only_session
from metering.surfaces.simulation.schemas import simulation_json
from metering.surfaces.simulation.service import SimulationError, SimulationResult, simulate
from pricing_rules.loader import load_rules
from tests.metering.billing.invoices.helpers import (
    NOVEMBER,
    OCTOBER,
    RULES,
    at,
    close,
    deal,
    invoices,
    resolution,
    send,
    void_event,
)
from tests.metering.conftest import VendorFixture, create_customer, create_plan
from tests.metering.surfaces.simulation.support import NOW, PROPOSED, billed_october


def run(
    url: str,
    plan_id: str,
    proposed: str,
    start: datetime = OCTOBER,
    end: datetime = NOVEMBER,
    now: datetime = NOW,
) -> SimulationResult:
    """A simulation through a read-only session, as the CLI and the API run it."""
    with read_only_session(url) as session:
        plan = session.get(Plan, plan_id)
        assert plan is not None
        return simulate(session, plan, load_rules(proposed), start, end, now)


def test_current_rules_equal_the_issued_invoices(
    engine: Engine, database_url: str, vendor: VendorFixture
) -> None:
    history = billed_october(engine, vendor.id)
    issued = {invoice.customer_id: invoice.total for invoice in invoices(engine)}

    result = run(database_url, history.plan_id, RULES)

    by_customer = {c.customer_id: c for c in result.customers}
    assert {cid: c.current for cid, c in by_customer.items()} == issued
    assert sorted(issued.values()) == [Decimal("25.00"), Decimal("25.00"), Decimal("38.98")]
    assert all(c.proposed == c.current for c in result.customers)
    assert not result.changes and not result.examples
    document = simulation_json(result)
    assert document["total"] == {
        "current": "88.98",
        "proposed": "88.98",
        "difference": "0.00",
        "percent_change": "0.00",
    }
    assert document["current_versions"] == [1]


def test_a_proposal_prices_the_same_events_anew_and_names_what_changes(
    engine: Engine, database_url: str, vendor: VendorFixture
) -> None:
    history = billed_october(engine, vendor.id)

    document = simulation_json(run(database_url, history.plan_id, PROPOSED))

    customers: list[dict[str, Any]] = document["customers"]  # type: ignore[assignment]
    assert [
        (c["customer"], c["current"], c["proposed"], c["difference"], c["percent_change"])
        for c in customers
    ] == [
        ("acme", "38.98", "43.54", "4.56", "11.70"),
        ("globex", "25.00", "25.00", "0.00", "0.00"),
        ("initech", "25.00", "25.00", "0.00", "0.00"),
    ]
    assert document["total"] == {
        "current": "88.98",
        "proposed": "93.54",
        "difference": "4.56",
        "percent_change": "5.12",
    }
    assert document["treatment_changes"] == [
        {"outcome": "resolved_conversation", "current": current, "proposed": "counted", "events": 1}
        for current in ("excluded by where", "reversed")
    ]
    examples: list[dict[str, Any]] = document["examples"]  # type: ignore[assignment]
    assert {(e["event_id"], e["current"], e["proposed"]) for e in examples} == {
        ("phone", "excluded by where", "counted"),
        ("r2", "reversed", "counted"),
    }
    assert document["proposed"] == {"plan": "support-agent", "version": 2, "currency": "usd"}


def test_an_open_period_is_priced_as_of_now(
    engine: Engine, database_url: str, vendor: VendorFixture
) -> None:
    """November is open on Nov 20 at noon: a resolution of Nov 19 13:00 is still pending
    under a 24 h settle, counted under 12 h; every period of the range is priced and summed."""
    history = billed_october(engine, vendor.id)
    send(
        engine,
        vendor.id,
        [
            resolution("n1", at(10, month=11), "n1", customer="globex"),
            resolution("n2", at(19, hour=13, month=11), "n2", customer="globex"),
        ],
        at(19, hour=14, month=11),
    )
    quick = PROPOSED.replace("after: 24h", "after: 12h")

    result = run(database_url, history.plan_id, quick, start=OCTOBER, end=NOW)

    globex = next(c for c in result.customers if c.external_id == "globex")
    # October 25.00; November: n1 counts (free), fee 20.00 and true-up 5.00.
    assert (globex.current, globex.periods) == (Decimal("50.00"), 4)
    # Proposed: n1 and n2 at 1.19 + 20.00 = 22.38, topped up to 25.00 again.
    assert globex.proposed == Decimal("50.00")
    result = run(database_url, history.plan_id, quick, start=NOVEMBER, end=NOW)
    assert result.changes == {("resolved_conversation", "pending", "counted"): 1}
    assert [(e.event_id, e.customer) for e in result.examples] == [("n2", "globex")]


def test_a_plan_change_inside_the_range_prices_each_part_by_its_version(
    engine: Engine, database_url: str, vendor: VendorFixture
) -> None:
    """globex moves to v3 (fee 30.00) on Nov 10: Nov 1-10 is priced by v1 (25.00 with the
    true-up), Nov 10-30 by v3 (30.00); the proposal prices both parts as it would."""
    history = billed_october(engine, vendor.id)
    create_plan(
        engine,
        vendor.id,
        RULES.replace("version: 1", "version: 3").replace('price: "20.00"', 'price: "30.00"'),
    )
    with Session(engine) as session:
        owner = session.get(Vendor, vendor.id)
        customer = session.get(Customer, history.customers["globex"])
        assert owner is not None and customer is not None
        subscribe(
            session,
            owner,
            customer,
            "support-agent",
            version=3,
            effective=Effective.IMMEDIATELY,
            now=at(10, month=11),
        )
        session.commit()

    result = run(database_url, history.plan_id, RULES, start=NOVEMBER, end=NOW)

    assert result.current_versions == [1, 3]
    globex = next(c for c in result.customers if c.external_id == "globex")
    assert (globex.current, globex.proposed, globex.periods) == (
        Decimal("55.00"),
        Decimal("50.00"),
        4,
    )


def test_a_proposal_in_another_currency_is_refused(
    engine: Engine, database_url: str, vendor: VendorFixture
) -> None:
    history = billed_october(engine, vendor.id)

    with pytest.raises(SimulationError, match=r"bills in EUR but version 1 .* bills in USD"):
        run(database_url, history.plan_id, PROPOSED.replace("currency: usd", "currency: eur"))


def test_the_simulation_session_cannot_write(
    engine: Engine, database_url: str, vendor: VendorFixture
) -> None:
    with read_only_session(database_url) as session, pytest.raises(DBAPIError) as refused:
        session.execute(sa.text("DELETE FROM vendors"))
    assert "read-only" in str(refused.value).lower() or "readonly" in str(refused.value).lower()
    with Session(engine) as session:
        assert session.get(Vendor, vendor.id) is not None


def test_voids_and_credits_after_the_close_instant_count_as_they_did_at_the_close(
    engine: Engine, database_url: str, vendor: VendorFixture
) -> None:
    """October closes as of Nov 4 00:00; r3's event is voided and a dispute on r4 accepted
    after that, before a late close: the invoice counts both, and so does the simulation of
    that period (their money is a correction on November's invoice)."""
    plan_id = create_plan(engine, vendor.id, RULES)
    customer_id = create_customer(engine, vendor.id, "acme", plan_id, starts_at=OCTOBER)
    events = [resolution(f"r{i}", at(i + 1), f"c{i}") for i in range(8)]
    send(engine, vendor.id, [*events, deal("d1", at(3), "1000.50")], at(25))
    after = at(4, hour=6, month=11)
    void_event(engine, vendor.id, "r3", "test traffic", after)
    with Session(engine) as session:
        customer = session.get(Customer, customer_id)
        owner = session.get(Vendor, vendor.id)
        row = session.exec(select(Outcome).where(Outcome.event_id == "r4")).one()
        assert customer is not None and owner is not None and row.id is not None
        dispute = file(session, customer, row.id, "not resolved", at(2, month=11))
        accept(session, owner, dispute.id, "refunded", after)
        session.commit()
    close(engine, at(5, month=11))
    [october] = invoices(engine)
    assert october.total == Decimal("40.75")  # eight conversations, as of Nov 4 00:00

    result = run(database_url, plan_id, RULES)

    [acme] = result.customers
    assert acme.current == october.total
    assert acme.events == 8  # r3 is voided now: not among the events read
