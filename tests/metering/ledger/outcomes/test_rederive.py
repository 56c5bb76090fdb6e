"""Deriving a range of a customer's events again: rows outside the range that depended on
rows inside it (a reversal across periods) follow, and ended periods are marked."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.catalog.customers.models import Customer
from metering.ledger.outcomes.service import rederive_customer
from tests.metering.catalog.subscriptions.support import (
    at,
    outcome_rows,
    reopen,
    resolution,
    rules,
    send,
    stale_marks,
)
from tests.metering.conftest import VendorFixture, create_customer, create_plan
from tests.metering.ledger.events.helpers import table

REVERSAL = "      reversed_by: {event: conversation.reopened, match: properties.conversation_id}\n"


def test_a_reversal_dropped_from_one_period_restores_the_outcome_it_reversed(
    engine: Engine, vendor: VendorFixture
) -> None:
    plan_id = create_plan(engine, vendor.id, rules(1))
    acme = create_customer(engine, vendor.id, "acme", plan_id)
    no_reopens = rules(2).replace(REVERSAL, "")
    assert no_reopens != rules(2)
    create_plan(engine, vendor.id, no_reopens)
    send(engine, vendor.id, "2026-10-31T00:00", resolution("r1", "2026-10-30T09:00"))
    send(engine, vendor.id, "2026-11-10T00:00", reopen("o1", "2026-11-02T09:00"))
    assert [(e, st) for e, _, _, _, st in outcome_rows(engine)] == [("r1", "reversed")]
    with engine.begin() as connection:  # from November on, acme is on version 2 (by hand)
        connection.exec_driver_sql("UPDATE subscriptions SET ends_at = '2026-11-01 00:00:00+00:00'")
        connection.exec_driver_sql(
            "INSERT INTO subscriptions (id, vendor_id, customer_id, plan_id, plan_version_id, "
            "starts_at, created_at, updated_at) SELECT 'sub_2', vendor_id, customer_id, "
            "plan_id, (SELECT id FROM plan_versions WHERE version = 2), "
            "'2026-11-01 00:00:00+00:00', created_at, updated_at FROM subscriptions"
        )
    with Session(engine) as session:
        customer = session.get(Customer, acme)
        assert customer is not None
        count = rederive_customer(
            session,
            customer,
            at("2026-11-10T00:00"),
            at("2026-11-01T00:00"),
            at("2026-12-01T00:00"),
        )
        session.commit()
    assert count == 1
    # Under version 2 a reopen reverses nothing: October's outcome counts again.
    assert [(e, st) for e, _, _, _, st in outcome_rows(engine)] == [("r1", "counted")]
    assert dict(table(engine, "events", "event_id", "status")) == {
        "o1": "unmatched",
        "r1": "counted",
    }
    assert table(engine, "outcome_reversals", "event_pk") == []
    assert stale_marks(engine) == [("2026-10-01T00:00", 2)]
