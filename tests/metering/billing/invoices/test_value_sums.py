"""Percentage charges priced from database sums (`ValueSums`, the live rating's) give the
lines that pricing each value in Python gives (`rate_live`, the close's stream): the same
quantity, amount and detail, with refunds (negative values), values clamped to the per-event
minimum and maximum, a fee per event, values with many decimal places, and one outcome priced
by two percentage charges."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.billing.invoices.live import rate_live, rate_live_at
from metering.billing.invoices.periods import subscription_period
from metering.catalog.plans.compiled import rules_of
from metering.catalog.subscriptions import repository as subscriptions
from tests.metering.billing.invoices.helpers import OCTOBER, at, deal
from tests.metering.conftest import VendorFixture, create_customer, create_plan
from tests.metering.ledger.events.helpers import ingest_all

RULES = """\
plan: deals
version: 1
currency: usd
billing: {interval: month, timezone: UTC, close_after: 72h}
outcomes:
  pipeline_value:
    event: deal.closed
    unique_by: properties.deal_id
    measure: {sum: properties.amount}
    settle: {after: 24h}
charges:
  - outcome: pipeline_value
    model: percentage
    rate: "1.5"
    per_event_min: "1.00"
    per_event_max: "50.00"
  - outcome: pipeline_value
    name: Handling
    model: percentage
    rate: "0.333"
    per_event_fee: "0.07"
"""
AMOUNTS = ["400", "9000", "20", "-35.5", "0", "66.666666666667", "3333.333333", "0.01", "7.005"]
INSTANTS = [at(20, 12), at(25)]


def test_database_sums_price_as_the_values_do(engine: Engine, vendor: VendorFixture) -> None:
    customer = create_customer(
        engine, vendor.id, "acme", create_plan(engine, vendor.id, RULES), OCTOBER
    )
    events = [deal(f"d{n}", at(3 + n), amount) for n, amount in enumerate(AMOUNTS)]
    events.append(deal("late", at(20, 6), "1234.5678"))  # pending at the first instant
    ingest_all(engine, vendor.id, events, at(26))
    with Session(engine) as session:
        (subscription,) = subscriptions.of_customer(session, customer)
        plan = rules_of(session, subscription.plan_version_id)
        period = subscription_period(subscription, plan, at(20))
        summed = [r[customer] for r in rate_live_at(session, plan, [customer], period, INSTANTS)]
        streamed = [rate_live(session, plan, [customer], period, i)[customer] for i in INSTANTS]
    for by_sums, by_values in zip(summed, streamed, strict=True):
        lines = [(x.charge_key, x.quantity, x.amount, x.detail) for x in by_sums.lines]
        assert lines == [(x.charge_key, x.quantity, x.amount, x.detail) for x in by_values.lines]
    assert summed[0].total != summed[1].total
    assert [x.amount for x in summed[1].lines] == [Decimal("130.52"), Decimal("47.53")]
