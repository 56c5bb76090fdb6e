"""The margin report's numbers, by hand, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from metering.catalog.plans.repository import latest_version
from metering.catalog.subscriptions.models import Subscription
from metering.platform.db.ids import new_id
from metering.surfaces.reports.repository import cost_events
from metering.surfaces.reports.service import margin_report
from tests.metering.conftest import VendorFixture, create_customer, create_plan
from tests.metering.ledger.events.helpers import ingest_all
from tests.metering.surfaces.reports.helpers import (
    NOVEMBER,
    REPORTED,
    RULES,
    at,
    call,
    money,
    month_of_conversations,
    resolution,
    tokens,
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


def test_cost_of_a_pending_outcome_counts_before_its_revenue(
    engine: Engine, vendor: VendorFixture, acme: str
) -> None:
    events = [
        call("e-1", "c-1", money("0.30"), at(30, 18)),
        resolution("r-1", "c-1", at(30, 20)),  # settles Dec 1 20:00
        call("e-2", "c-2", money("0.05"), at(30, 21)),
        call("e-3", "c-2", {"amount": "0.07", "currency": "eur"}, at(30, 22)),
    ]
    ingest_all(engine, vendor.id, events, REPORTED)
    as_of = datetime(2026, 12, 1, tzinfo=UTC)
    with Session(engine) as session:
        (row,) = margin_report(session, vendor.id, "2026-11", as_of).customers
    resolved = row.outcomes["resolved_conversation"]
    assert (resolved.settled, resolved.pending) == (0, 1)
    assert (resolved.revenue, resolved.cost) == (Decimal(0), Decimal("0.30"))
    assert resolved.margin == Decimal("-0.30")
    assert resolved.margin_percent is None
    assert row.unbilled_cost == Decimal("0.05")
    assert dict(row.unpriced) == {"cost is in eur, the plan bills in usd": 1}


TWO_OUTCOMES = RULES.replace(
    "charges:\n",
    """  escalated_conversation:
    event: conversation.escalated
    unique_by: properties.conversation_id
charges:
  - outcome: escalated_conversation
    model: per_unit
    unit_price: "0.50"
""",
)


def test_a_key_shared_by_two_outcome_types_lands_on_the_earliest(
    engine: Engine, vendor: VendorFixture
) -> None:
    create_customer(engine, vendor.id, "acme", create_plan(engine, vendor.id, TWO_OUTCOMES))
    escalated = resolution("x-1", "c-1", at(14, 10)) | {"type": "conversation.escalated"}
    events = [
        call("e-1", "c-1", money("0.10"), at(14, 9)),
        escalated,
        resolution("r-1", "c-1", at(14, 11)),
        call("e-2", "c-1", money("0.02"), at(14, 12)),
    ]
    ingest_all(engine, vendor.id, events, REPORTED)
    with Session(engine) as session:
        (row,) = margin_report(session, vendor.id, "2026-11", REPORTED).customers
    assert row.outcomes["escalated_conversation"].cost == Decimal("0.12")
    assert row.outcomes["resolved_conversation"].cost == 0
    assert row.outcomes["escalated_conversation"].revenue == Decimal("0.50")
    assert row.outcomes["resolved_conversation"].revenue == Decimal("0.99")


def test_a_plan_change_mid_period_makes_two_rows(engine: Engine, vendor: VendorFixture) -> None:

    mid = datetime(2026, 11, 16, tzinfo=UTC)
    first = create_plan(engine, vendor.id, RULES)
    second = create_plan(engine, vendor.id, RULES.replace("support-agent", "support-pro"))
    customer = create_customer(engine, vendor.id, "acme", first, starts_at=NOVEMBER)
    with Session(engine) as session:
        (old,) = session.exec(select(Subscription)).all()
        newer = Subscription(**old.model_dump(exclude={"id", "plan_id", "plan_version_id"}))
        old.ends_at = mid
        session.add(old)
        session.flush()
        version = latest_version(session, second)
        assert version is not None
        newer.id, newer.plan_id, newer.plan_version_id = new_id("sub"), second, version.id
        newer.starts_at = mid
        session.add(newer)
        session.commit()
    events = [
        call("e-1", "c-1", money("0.10"), at(10)),
        resolution("r-1", "c-1", at(10, 13)),
        call("e-2", "c-2", money("0.20"), at(20)),
        resolution("r-2", "c-2", at(20, 13)),
        call("e-3", "c-1", money("0.40"), at(20, 14)),  # c-1 resolved under the old plan
    ]
    ingest_all(engine, vendor.id, events, REPORTED)
    with Session(engine) as session:
        rows = margin_report(session, vendor.id, "2026-11", REPORTED).customers
    assert [(r.customer_id, r.plan, r.period_start.day, r.period_end.day) for r in rows] == [
        (customer, "support-agent", 1, 16),
        (customer, "support-pro", 16, 1),
    ]
    assert [r.outcomes["resolved_conversation"].cost for r in rows] == [
        Decimal("0.10"),
        Decimal("0.20"),
    ]
    assert [r.unbilled_cost for r in rows] == [0, Decimal("0.40")]


def test_without_a_costs_section_only_own_costs_attach(
    engine: Engine, vendor: VendorFixture
) -> None:
    plain = RULES[: RULES.index("costs:")]
    create_customer(engine, vendor.id, "acme", create_plan(engine, vendor.id, plain))
    events = [
        call("e-1", "c-1", money("0.10"), at(14, 9)),
        call("e-2", "c-1", tokens("gpt-4o", 1000, 100), at(14, 10)),
        resolution("r-1", "c-1", at(14, 11), cost=money("0.03")),
    ]
    ingest_all(engine, vendor.id, events, REPORTED)
    with Session(engine) as session:
        (row,) = margin_report(session, vendor.id, "2026-11", REPORTED).customers
    assert row.outcomes["resolved_conversation"].cost == Decimal("0.03")
    assert row.unbilled_cost == Decimal("0.10")  # no attribute_to: no key to follow
    assert dict(row.unpriced) == {"model 'gpt-4o' has no token prices in the rule file": 1}
