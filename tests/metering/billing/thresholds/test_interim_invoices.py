"""Threshold invoicing: an interim invoice when an open period's settled amount reaches
`invoice_at`, the final bills the rest by difference; interim plus final is the period's
price from the core, with a reversal, a late event and a volume tier reached later (both DBs)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.billing.invoices import lifecycle
from metering.billing.invoices.models import InvoiceKind
from metering.billing.invoices.service import upcoming
from metering.billing.invoices.thresholds import invoice_thresholds
from metering.catalog.customers.models import Customer
from pricing_rules.loader import load_rules
from pricing_rules.pricing import MeasuredUsage, price_usage
from tests.metering.billing.invoices.helpers import (
    OCTOBER,
    at,
    close,
    invoices,
    lines,
    reopen,
    resolution,
    send,
    summary,
)
from tests.metering.conftest import VendorFixture, create_customer, create_plan
from tests.metering.platform.api.support import bearer

RULES = """\
plan: fast
version: 1
currency: usd
billing: {interval: month, timezone: UTC, close_after: 72h, invoice_at: {amount: "10.00"}}
outcomes:
  resolved_conversation:
    event: conversation.resolved
    unique_by: properties.conversation_id
    settle:
      after: 24h
      reversed_by: {event: conversation.reopened, match: properties.conversation_id}
charges:
  - outcome: resolved_conversation
    model: volume
    tiers:
      - {up_to: 10, unit_price: "1.00"}
      - {up_to: null, unit_price: "0.50"}
  - {name: Platform fee, model: flat, price: "2.00"}
"""


def resolutions(numbers: range, customer: str = "acme") -> list[dict[str, object]]:
    return [resolution(f"{customer}-r{n}", at(n + 1), f"c{n}", customer) for n in numbers]


def thresholds(engine: Engine, now: datetime) -> list[str]:
    return [invoice.customer_id for invoice in invoice_thresholds(engine, now)]


def test_interim_plus_final_is_the_period_price(engine: Engine, vendor: VendorFixture) -> None:
    plan = create_plan(engine, vendor.id, RULES)
    acme = create_customer(engine, vendor.id, "acme", plan, starts_at=OCTOBER)
    for event in resolutions(range(1, 9)):  # October 2nd to 9th, settled a day later
        send(engine, vendor.id, [event], at(9, 13))

    assert thresholds(engine, at(5)) == []  # 3 settled: 3.00 + 2.00 < 10.00
    assert thresholds(engine, at(11)) == [acme]  # 8 settled: 8.00 + 2.00 reaches 10.00
    assert thresholds(engine, at(12)) == []  # one interim per period

    [interim] = invoices(engine)
    assert interim.kind == InvoiceKind.INTERIM.value
    assert (interim.period_start, interim.period_end) == (at(11), at(11))
    assert summary(engine, interim.id) == [
        ("charge", "resolved_conversation (volume)", "8.00"),
        ("charge", "Platform fee", "2.00"),
    ]
    assert all(line.period_start == OCTOBER for line in lines(engine, interim.id))

    # After the interim: c1 reopened, four more (the volume tier drops to 0.50), and one
    # more of October 30th that arrives late, after the period ended.
    send(engine, vendor.id, [reopen("o1", at(20), "c1")], at(20, 13))
    send(engine, vendor.id, resolutions(range(14, 18)), at(19, 13))
    with Session(engine) as session:
        customer = session.get(Customer, acme)
        assert customer is not None
        shown = upcoming(session, customer, at(25))
    # The upcoming invoice shows the rest: 11 at 0.50 now, 8.00 billed for the volume.
    assert [(line.description, line.amount) for line in shown.lines] == [
        ("Correction of invoice #1: resolved_conversation (volume)", "-1.00"),
        ("Adjustment for 2026-10: resolved_conversation (volume)", "-1.50"),
    ]
    send(engine, vendor.id, [resolution("late", at(30), "c-late")], at(2, month=11))
    close(engine, at(5, month=11))

    interim_again, final = invoices(engine)
    assert final.kind == InvoiceKind.PERIOD.value
    assert summary(engine, final.id) == [
        ("credit", "Correction of invoice #1: resolved_conversation (volume)", "-1.00"),
        ("adjustment", "Adjustment for 2026-10: resolved_conversation (volume)", "-1.00"),
    ]
    core = price_usage(
        load_rules(RULES), {"resolved_conversation": MeasuredUsage(quantity=Decimal(12))}
    )
    assert core.total == Decimal("8.00")  # 12 at 0.50, plus the fee
    assert interim_again.total + final.total == core.total


def test_no_interim_in_the_last_24_hours(engine: Engine, vendor: VendorFixture) -> None:
    plan = create_plan(engine, vendor.id, RULES)
    create_customer(engine, vendor.id, "acme", plan, starts_at=OCTOBER)
    send(engine, vendor.id, resolutions(range(1, 12)), at(12, 13))

    assert thresholds(engine, at(31, 1)) == []
    assert invoices(engine) == []
    close(engine, at(5, month=11))
    [final] = invoices(engine)
    assert final.total == Decimal("7.50")  # 11 at 0.50, plus the fee


def test_a_threshold_reached_exactly_counts(engine: Engine, vendor: VendorFixture) -> None:
    exact = RULES.replace('"10.00"}}', '"5.00"}}')
    plan = create_plan(engine, vendor.id, exact)
    acme = create_customer(engine, vendor.id, "acme", plan, starts_at=OCTOBER)
    send(engine, vendor.id, resolutions(range(1, 4)), at(4, 13))

    assert thresholds(engine, at(5, 11)) == []  # 2 settled: 4.00
    assert thresholds(engine, at(5, 12)) == [acme]  # 3 settled: 5.00, the threshold itself


def test_a_customer_threshold_overrides_the_plans(
    engine: Engine, vendor: VendorFixture, app_client: TestClient
) -> None:
    plan = create_plan(engine, vendor.id, RULES)
    acme = create_customer(engine, vendor.id, "acme", plan, starts_at=OCTOBER)
    headers = bearer(vendor.api_key)

    below = app_client.patch(f"/v1/customers/{acme}", json={"invoice_at": "-1"}, headers=headers)
    lower = app_client.patch(f"/v1/customers/{acme}", json={"invoice_at": "4.00"}, headers=headers)

    assert below.status_code == 422
    [error] = below.json()["errors"]
    assert error["field"] == "invoice_at"
    assert "must not be below zero" in error["message"]
    assert lower.status_code == 200, lower.text
    assert lower.json()["invoice_at"] == "4.00"
    send(engine, vendor.id, resolutions(range(1, 3)), at(3, 13))
    assert thresholds(engine, at(4)) == [acme]  # 2.00 + 2.00 reaches its own 4.00
    back = app_client.patch(f"/v1/customers/{acme}", json={"invoice_at": None}, headers=headers)
    assert back.json()["invoice_at"] is None


def test_voiding_the_interim_after_the_final_bills_it_again(
    engine: Engine, vendor: VendorFixture
) -> None:
    plan = create_plan(engine, vendor.id, RULES)
    acme = create_customer(engine, vendor.id, "acme", plan, starts_at=OCTOBER)
    send(engine, vendor.id, resolutions(range(1, 9)), at(9, 13))
    assert thresholds(engine, at(11)) == [acme]
    close(engine, at(5, month=11))
    interim, final = invoices(engine)
    assert final.total == Decimal("0.00")  # all of it was billed on the interim

    with Session(engine) as session:
        lifecycle.void(session, interim.id, at(10, month=11))
        session.commit()
    close(engine, at(5, month=12))

    november = invoices(engine)[-1]
    # The fee moves with the correction of the final, as a minimum true-up does.
    assert summary(engine, november.id)[-2:] == [
        ("credit", "Correction of invoice #2: Platform fee", "2.00"),
        ("adjustment", "Adjustment for 2026-10: resolved_conversation (volume)", "8.00"),
    ]
