"""A customer's own commitment prices through an override: a lower committed price, another
overage price and fewer committed units, billed across the crossing; the term keeps what was
used under the plan; the margin report and simulation keep it under its plan, marked
overridden (both DBs, to the cent)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from metering.catalog.customers.models import Customer
from metering.catalog.plans.models import Plan
from metering.catalog.subscriptions.schemas import Effective
from metering.ledger.plan_changes.service import give_override
from metering.surfaces.reports.service import margin_report
from metering.surfaces.simulation.service import simulate
from pricing_rules.errors import RuleFileError
from pricing_rules.loader import load_rules
from tests.metering.billing.commitments.helpers import (
    RULES,
    YEAR,
    day,
    month_end_close,
    send_month,
)
from tests.metering.billing.invoices.helpers import invoices, summary
from tests.metering.conftest import SUPPORT_RULES, VendorFixture, create_customer, create_plan
from tests.metering.platform.api.support import bearer

OWN_COMMITMENT = """\
commitment:
  units: {resolved_conversation: 4}
  price: "0.40"
  overage: {unit_price: "0.90"}
"""

FEE = ("charge", "Platform fee", "10.00")
MARCH = datetime(2026, 3, 1, tzinfo=UTC)


def give(engine: Engine, customer_id: str, text: str, now: datetime) -> None:
    with Session(engine) as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None
        give_override(session, customer, text, "acme.yaml", Effective.NEXT_PERIOD, now)
        session.commit()


def january_then_february(engine: Engine, vendor: VendorFixture) -> str:
    """One resolution in January at the plan's commitment; the override from February;
    five resolutions in February."""
    plan = create_plan(engine, vendor.id, RULES)
    customer = create_customer(engine, vendor.id, "acme", plan, starts_at=YEAR)
    send_month(engine, vendor.id, 1, [10])
    give(engine, customer, OWN_COMMITMENT, day(1, 20))
    month_end_close(engine, 1)
    send_month(engine, vendor.id, 2, [2, 4, 6, 8, 10])
    month_end_close(engine, 2)
    return customer


def test_the_customers_commitment_prices_both_sides_of_the_crossing(
    engine: Engine, vendor: VendorFixture
) -> None:
    january_then_february(engine, vendor)

    january, february = invoices(engine)
    assert summary(engine, january.id) == [
        FEE,
        ("commitment", "resolved_conversation (committed, 1 at 0.50)", "0.50"),  # the plan's
    ]
    # The term used 1 in January, so 3 of the customer's 4 remain: the 4th and 5th
    # resolutions of February are overage at the customer's 0.90, not the plan's 1.20.
    assert summary(engine, february.id) == [
        FEE,
        ("commitment", "resolved_conversation (committed, 3 at 0.40)", "1.20"),
        ("commitment", "resolved_conversation (overage, 2 past the 4 committed at 0.90)", "1.80"),
    ]
    assert (january.total, february.total) == (Decimal("10.50"), Decimal("13.00"))


def test_the_margin_report_and_a_simulation_mark_the_customer_overridden(
    engine: Engine, vendor: VendorFixture
) -> None:
    january_then_february(engine, vendor)
    with Session(engine) as session:
        rows = margin_report(session, vendor.id, "2026-02", day(3, 10)).customers
        plan = session.exec(select(Plan)).one()
        result = simulate(session, plan, load_rules(RULES), YEAR, MARCH, day(3, 10))
    assert [(r.plan, r.plan_version, r.overridden) for r in rows] == [("zendesk", 1, True)]
    [customer] = result.customers
    assert customer.overridden is True
    # As billed (10.50 + 13.00); under the plan itself February is 10.00 + 5 x 0.50.
    assert (customer.current, customer.proposed) == (Decimal("23.50"), Decimal("23.00"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "commitment:\n  term: quarter\n",
            "acme.yaml:2:9: the term cannot be overridden per customer",
        ),
        ('commitment:\n  price: "-1"\n', "acme.yaml:2:10: must not be negative, got -1"),
        (
            "commitment:\n  rollover: true\n",
            "acme.yaml:2:3: unknown key 'rollover' in commitment override",
        ),
    ],
)
def test_commitment_mistakes_are_located(
    engine: Engine, vendor: VendorFixture, text: str, expected: str
) -> None:
    plan = create_plan(engine, vendor.id, RULES)
    customer = create_customer(engine, vendor.id, "acme", plan, starts_at=YEAR)
    with pytest.raises(RuleFileError) as caught:
        give(engine, customer, text, day(1, 20))
    [error] = caught.value.errors
    assert str(error).startswith(expected)


def test_the_api_refuses_a_commitment_the_plan_does_not_have(
    engine: Engine, vendor: VendorFixture, app_client: TestClient
) -> None:
    plan = create_plan(engine, vendor.id, SUPPORT_RULES)
    customer = create_customer(engine, vendor.id, "acme", plan)
    answer = app_client.post(
        f"/v1/customers/{customer}/overrides",
        content='commitment: {price: "0.40"}\n',
        headers=bearer(vendor.api_key) | {"content-type": "application/yaml"},
    )
    assert answer.status_code == 422
    assert answer.json()["errors"] == [
        {
            "file": "override.yaml",
            "line": 1,
            "column": 1,
            "message": "the plan has no commitment; an override changes the plan's commitment "
            "(units, amount, price, overage, true_up), it cannot add one: give the plan a "
            "commitment in a new version",
        }
    ]


def test_the_api_shows_the_merged_commitment(
    engine: Engine, vendor: VendorFixture, app_client: TestClient
) -> None:
    plan = create_plan(engine, vendor.id, RULES)
    customer = create_customer(engine, vendor.id, "acme", plan, starts_at=YEAR)
    made = app_client.post(
        f"/v1/customers/{customer}/overrides",
        json={"commitment": {"price": "0.40", "overage": {"unit_price": "0.90"}}},
        params={"effective": "immediately"},
        headers=bearer(vendor.api_key),
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["base"]["commitment"]["price"] == "0.50"
    assert body["merged"]["commitment"]["price"] == "0.40"
    assert body["merged"]["commitment"]["overage"]["unit_price"] == "0.90"
    assert body["merged"]["commitment"]["units"] == body["base"]["commitment"]["units"]
    shown = app_client.get(f"/v1/customers/{customer}/commitment", headers=bearer(vendor.api_key))
    assert (shown.json()["committed"], shown.json()["price"]) == ("12", "0.40")


def test_an_override_now_splits_the_month_and_moves_the_crossing(
    engine: Engine, vendor: VendorFixture
) -> None:
    plan = create_plan(engine, vendor.id, RULES)
    customer = create_customer(engine, vendor.id, "acme", plan, starts_at=YEAR)
    send_month(engine, vendor.id, 1, [10])
    month_end_close(engine, 1)
    send_month(engine, vendor.id, 2, [2, 4])
    with Session(engine) as session:
        found = session.get(Customer, customer)
        assert found is not None
        give_override(
            session, found, OWN_COMMITMENT, "acme.yaml", Effective.IMMEDIATELY, day(2, 15, 0)
        )
        session.commit()
    send_month(engine, vendor.id, 2, [16, 18, 20])
    month_end_close(engine, 2)

    _, before, after = invoices(engine)
    assert (before.period_start, after.period_start) == (
        datetime(2026, 2, 1, tzinfo=UTC),
        day(2, 15, 0),
    )
    assert summary(engine, before.id)[1:] == [
        ("commitment", "resolved_conversation (committed, 2 at 0.50)", "1.00"),
    ]
    # 3 used before (1 in January, 2 before the 15th): 1 of the customer's 4 remains.
    assert summary(engine, after.id)[1:] == [
        ("commitment", "resolved_conversation (committed, 1 at 0.40)", "0.40"),
        ("commitment", "resolved_conversation (overage, 2 past the 4 committed at 0.90)", "1.80"),
    ]
