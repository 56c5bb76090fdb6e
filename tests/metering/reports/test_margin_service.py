"""The margin report's numbers, by hand, on SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.reports.repository import cost_events
from metering.reports.service import margin_report
from tests.metering.conftest import VendorFixture, create_customer, create_plan
from tests.metering.events.helpers import ingest_all
from tests.metering.reports.helpers import (
    NOVEMBER,
    REPORTED,
    RULES,
    at,
    call,
    money,
    month_of_conversations,
    resolution,
)

pytestmark = pytest.mark.usefixtures("engine")


@pytest.fixture
def acme(engine: Engine, vendor: VendorFixture) -> str:
    plan = create_plan(engine, vendor.id, RULES)
    return create_customer(engine, vendor.id, "acme", plan)


def test_three_model_calls_land_on_their_resolution(
    engine: Engine, vendor: VendorFixture, acme: str
) -> None:
    ingest_all(engine, vendor.id, month_of_conversations(), REPORTED)
    with Session(engine) as session:
        result = margin_report(session, vendor.id, "2026-11", REPORTED)
    (row,) = result.customers
    assert row.customer == "acme"
    assert row.revenue_source == "live"
    resolved = row.outcomes["resolved_conversation"]
    assert (resolved.settled, resolved.pending) == (1, 0)
    assert resolved.revenue == Decimal("0.99")
    assert resolved.cost == Decimal("0.0210")
    assert resolved.margin == Decimal("0.969")
    assert resolved.margin_percent is not None
    assert round(resolved.margin_percent, 2) == Decimal("97.88")
    assert row.other_revenue == Decimal("20.00")


def test_costs_that_never_became_a_billed_outcome_are_unbilled(
    engine: Engine, vendor: VendorFixture, acme: str
) -> None:
    ingest_all(engine, vendor.id, month_of_conversations(), REPORTED)
    with Session(engine) as session:
        (row,) = margin_report(session, vendor.id, "2026-11", REPORTED).customers
    # c-2 never resolved (0.007), c-3 was reopened (0.05)
    assert row.unbilled_cost == Decimal("0.057")
    assert row.cost == Decimal("0.078")
    assert row.revenue == Decimal("20.99")
    assert row.margin == Decimal("20.912")


def test_a_model_without_prices_is_reported_unpriced(
    engine: Engine, vendor: VendorFixture, acme: str
) -> None:
    ingest_all(engine, vendor.id, month_of_conversations(), REPORTED)
    with Session(engine) as session:
        (row,) = margin_report(session, vendor.id, "2026-11", REPORTED).customers
    assert dict(row.unpriced) == {"model 'gpt-9' has no token prices in the rule file": 1}


def test_an_outcome_events_own_cost_lands_on_it(
    engine: Engine, vendor: VendorFixture, acme: str
) -> None:
    events = [
        resolution("r-9", "c-9", at(20), cost=money("0.40")),
        call("e-9", "c-9", money("0.10"), at(21)),  # after the resolution: same key
        resolution("r-10", "c-9", at(22)),  # a duplicate: its cost goes by the key too
    ]
    events[2]["cost"] = money("0.01")
    ingest_all(engine, vendor.id, events, REPORTED)
    with Session(engine) as session:
        (row,) = margin_report(session, vendor.id, "2026-11", REPORTED).customers
    assert row.outcomes["resolved_conversation"].cost == Decimal("0.51")
    assert row.unbilled_cost == 0


def test_only_events_with_a_cost_are_streamed(
    engine: Engine, vendor: VendorFixture, acme: str
) -> None:
    ingest_all(engine, vendor.id, month_of_conversations(), REPORTED)
    with Session(engine) as session:
        streamed = cost_events(session, vendor.id, [acme], NOVEMBER, REPORTED)
        ids = sorted(cost.event.id for cost in streamed)
    assert ids == ["e-1", "e-2", "e-3", "e-4", "e-5", "e-6", "e-7"]  # not r-1, r-3, o-3
