"""The portal lists the outcomes a block limit holds as over the limit, never billed, and its
status filter finds them (both databases)."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.ledger.states import DisplayStatus
from metering.surfaces.portal import outcomes
from metering.surfaces.portal.outcomes import OutcomeFilter
from tests.metering.conftest import VendorFixture, create_customer, create_plan
from tests.metering.ledger.limits.helpers import NOW, resolution, rules, send


def test_held_outcomes_are_shown_over_the_limit(engine: Engine, vendor: VendorFixture) -> None:
    customer_id = create_customer(
        engine, vendor.id, "acme", create_plan(engine, vendor.id, rules())
    )
    send(
        engine,
        vendor.id,
        resolution("r1", "09:00", "c-1"),
        resolution("r2", "10:00", "c-2"),
        resolution("r3", "11:00", "c-3"),
    )
    with Session(engine) as session:
        rows = outcomes.page(session, customer_id, OutcomeFilter(), NOW).rows
        labels = {row.event_id: row.label for row in rows}
        held = outcomes.page(
            session, customer_id, OutcomeFilter(status=DisplayStatus.OVER_LIMIT), NOW
        ).rows
    assert labels == {"r1": "Billable", "r2": "Billable", "r3": "Over limit (not billed)"}
    assert [row.event_id for row in held] == ["r3"]
