"""`rules simulate` reports how block limits would have changed past invoices: outcomes held
over the limit are not billed, counted per customer and in total, and shown as events whose
treatment changes; a version in force with a limit is simulated as its close billed it
(both DBs).

acme's October winners in (timestamp, event id) order, under the invoices' rules (2 free
conversations then 0.99, 1.5 % of deals with a 1.00 minimum, fee 20.00): r0 (Oct 1) and r1
(Oct 2) free: spend 20.00; d1 (Oct 3, 1000.50): 35.01; d2 (Oct 4, 20): 36.01; r3 (Oct 4):
37.00; r4 (Oct 5) would make 37.99 and r5 (Oct 6) too. (r2 is reversed, c1's second report
a duplicate.)
- `maximum: {amount: "37.50", on_reach: block}`: r4 and r5 are over the limit; acme's
  invoice is 20.00 + 0.99 + 16.01 = 37.00 instead of 38.98; globex and initech (spend 20.00)
  stay at 25.00.
- `limit: {units: 3, on_reach: block}` on resolutions: r0, r1, r3 count, r4 and r5 are over;
  the same 37.00.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from metering.billing.allowance.limits_service import set_spend_limit
from metering.billing.allowance.schemas import SpendLimitIn
from metering.catalog.customers.models import Customer
from metering.ledger.outcomes.models import Outcome
from metering.surfaces.simulation.schemas import simulation_json
from metering.surfaces.simulation.windows import Side
from tests.metering.billing.invoices.helpers import OCTOBER, RULES, at, close, invoices, send
from tests.metering.conftest import VendorFixture, create_customer, create_plan
from tests.metering.surfaces.simulation.support import (
    CLOSED_AT,
    PROPOSED,
    billed_october,
    october_events,
)
from tests.metering.surfaces.simulation.test_simulate_service import run

MAXIMUM = (
    RULES.replace("version: 1", "version: 2") + 'maximum: {amount: "37.50", on_reach: block}\n'
)
UNITS = RULES.replace("version: 1", "version: 2").replace(
    "    unique_by: properties.conversation_id\n",
    "    unique_by: properties.conversation_id\n    limit: {units: 3, on_reach: block}\n",
)


@pytest.mark.parametrize("proposed", [MAXIMUM, UNITS], ids=["maximum", "unit-limit"])
def test_a_proposed_block_limit_holds_the_outcomes_past_it(
    engine: Engine, database_url: str, vendor: VendorFixture, proposed: str
) -> None:
    history = billed_october(engine, vendor.id)

    result = run(database_url, history.plan_id, proposed)

    by_name = {c.external_id: c for c in result.customers}
    acme = by_name["acme"]
    assert (acme.current, acme.proposed) == (Decimal("38.98"), Decimal("37.00"))
    assert acme.over_limit == {Side.CURRENT: 0, Side.PROPOSED: 2}
    assert [
        (c.proposed, c.over_limit[Side.PROPOSED]) for c in (by_name["globex"], by_name["initech"])
    ] == [
        (Decimal("25.00"), 0),
        (Decimal("25.00"), 0),
    ]
    document = simulation_json(result)
    assert document["over_limit"] == {"current": 0, "proposed": 2}
    assert document["total"]["proposed"] == "87.00"  # type: ignore[index]
    assert {
        "outcome": "resolved_conversation",
        "current": "counted",
        "proposed": "over limit",
        "events": 2,
    } in document["treatment_changes"]  # type: ignore[operator]
    held = {
        e["event_id"]
        for e in document["examples"]
        if e["proposed"] == "over limit"  # type: ignore[attr-defined]
    }
    assert held == {"r4", "r5"}


def test_a_limit_in_force_is_simulated_as_the_close_billed_it(
    engine: Engine, database_url: str, vendor: VendorFixture
) -> None:
    limited = MAXIMUM.replace("version: 2", "version: 1")
    plan_id = create_plan(engine, vendor.id, limited)
    for name in ("acme", "globex", "initech"):
        create_customer(engine, vendor.id, name, plan_id, starts_at=OCTOBER)
    send(engine, vendor.id, october_events(), at(31))
    close(engine, CLOSED_AT)
    with Session(engine) as session:
        stored = session.exec(
            select(Outcome.event_id).where(col(Outcome.state) == "over_limit")
        ).all()
    issued = sum((invoice.total for invoice in invoices(engine)), Decimal(0))

    result = run(database_url, plan_id, limited.replace("version: 1", "version: 2"))

    assert sorted(stored) == ["r4", "r5"]
    current = sum((c.current for c in result.customers), Decimal(0))
    assert current == issued == Decimal("87.00")
    assert sum(c.over_limit[Side.CURRENT] for c in result.customers) == 2
    assert sum(c.proposed for c in result.customers) == Decimal("87.00")


def test_a_customers_own_spend_limit_holds_on_both_sides(
    engine: Engine, database_url: str, vendor: VendorFixture
) -> None:
    """acme set a 37.50 block spend limit before October: the close held r4 and r5, and the
    simulation holds them on both sides (the limit as the customer has it now)."""
    plan_id = create_plan(engine, vendor.id, RULES)
    ids = {
        name: create_customer(engine, vendor.id, name, plan_id, starts_at=OCTOBER)
        for name in ("acme", "globex", "initech")
    }
    with Session(engine) as session:
        acme = session.get(Customer, ids["acme"])
        assert acme is not None
        set_spend_limit(session, acme, SpendLimitIn(amount="37.50"), OCTOBER)
        session.commit()
    send(engine, vendor.id, october_events(), at(31))
    close(engine, CLOSED_AT)
    issued = sum((invoice.total for invoice in invoices(engine)), Decimal(0))

    result = run(database_url, plan_id, PROPOSED)

    [simulated] = [c for c in result.customers if c.external_id == "acme"]
    assert issued == Decimal("87.00")
    assert sum((c.current for c in result.customers), Decimal(0)) == issued
    # Current: r4 and r5 held, 37.00 as issued. Proposed (1.19 from the first unit, the phone
    # resolution counted, no reversal), in (timestamp, event id) order: r0 21.19, r1 22.38,
    # d1 37.39; then r2 would make 38.58, d2 38.39, r3, r4, r5 and phone 38.58: all held.
    assert simulated.over_limit == {Side.CURRENT: 2, Side.PROPOSED: 6}
    assert (simulated.current, simulated.proposed) == (Decimal("37.00"), Decimal("37.39"))
    # r4 and r5 are over the limit on both sides: no change of treatment to show.
    held = {e.event_id for e in result.examples if e.proposed == "over limit"}
    assert held == {"r2", "d2", "r3", "phone"}
