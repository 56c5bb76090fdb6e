"""The invoices of a period add up to the pure core's price of its events (both databases).

Generated events for every measure (count, sum, max, latest, unique) in a plan cut in
Europe/Paris, delivered out of order in batches, some after their period closed, with
reversals and a void; after three closes, each period's lines over all invoices must
equal `price_events` over the same events as of the last close, to the cent.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from metering.billing.invoices.models import InvoiceLine
from metering.catalog.customers.models import Customer
from pricing_rules.engine import price_events
from pricing_rules.event_json import event_from_json
from pricing_rules.loader import load_rules
from pricing_rules.periods import Period, period_from_label
from tests.metering.billing.invoices.helpers import close, iso, send, void_event
from tests.metering.conftest import VendorFixture, create_customer, create_plan

RULES = """\
plan: measured
version: 1
currency: usd
billing: {interval: month, timezone: Europe/Paris, close_after: 48h}
outcomes:
  resolved:
    event: conversation.resolved
    unique_by: properties.conversation_id
    settle:
      after: 12h
      reversed_by: {event: conversation.reopened, match: properties.conversation_id}
  deal_value:
    event: deal.closed
    unique_by: properties.deal_id
    measure: {sum: properties.amount}
  peak_seats:
    event: seats.reported
    measure: {max: properties.seats}
  gauge:
    event: gauge.read
    measure: {latest: properties.level}
  users:
    event: user.active
    measure: {unique: properties.user}
charges:
  - outcome: resolved
    model: graduated
    free_units: 3
    tiers:
      - {up_to: 10, unit_price: "0.99"}
      - {up_to: null, unit_price: "0.79", flat_price: "1.50"}
  - outcome: deal_value
    model: percentage
    rate: "2.5"
    per_event_min: "0.50"
    per_event_max: "40.00"
  - {outcome: peak_seats, model: per_unit, unit_price: "3.10"}
  - outcome: gauge
    model: volume
    tiers:
      - {up_to: 50, unit_price: "0.10"}
      - {up_to: null, unit_price: "0.05"}
  - {outcome: users, model: package, package_size: 5, price: "2.00"}
  - {name: Platform fee, model: flat, price: "10.00"}
minimum: "30.00"
maximum: "2500.00"
"""
TZ = "Europe/Paris"
OCT = period_from_label("2026-10", "month", TZ)
NOV = period_from_label("2026-11", "month", TZ)
DEC = period_from_label("2026-12", "month", TZ)
CUSTOMERS = ("alpha", "beta", "gamma")


def _instant(rng: random.Random, period: Period) -> datetime:
    seconds = int((period.end - period.start).total_seconds())
    return period.start + timedelta(seconds=rng.randrange(seconds))


def generate(rng: random.Random, period: Period, count: int, prefix: str) -> list[dict[str, Any]]:
    events = []
    for n in range(count):
        customer = rng.choice(CUSTOMERS)
        when = _instant(rng, period)
        roll = rng.random()
        kind: str
        properties: dict[str, Any]
        if roll < 0.45:
            kind, properties = "conversation.resolved", {"conversation_id": f"c{rng.randrange(25)}"}
        elif roll < 0.55:
            kind, properties = "conversation.reopened", {"conversation_id": f"c{rng.randrange(25)}"}
        elif roll < 0.7:
            cents = rng.choice([rng.randrange(100, 5000), rng.randrange(100_000, 10_000_000)])
            amount = Decimal(cents).scaleb(-2)
            kind, properties = "deal.closed", {"deal_id": f"d{rng.randrange(40)}", "amount": amount}
        elif roll < 0.8:
            kind, properties = "seats.reported", {"seats": rng.randrange(1, 60)}
        elif roll < 0.9:
            # Readings share timestamps, so the latest is decided by event id.
            when = period.start + timedelta(hours=rng.randrange(3) * 200)
            kind, properties = "gauge.read", {"level": Decimal(rng.randrange(0, 9000)).scaleb(-1)}
        else:
            kind, properties = "user.active", {"user": f"u{rng.randrange(12)}"}
        events.append(
            {
                "id": f"{prefix}{n}",
                "type": kind,
                "customer": customer,
                "timestamp": iso(when),
                "properties": properties,
            }
        )
    return events


def deliver(engine: Engine, vendor_id: str, events: list[dict[str, Any]], now: datetime) -> None:
    """In three shuffled batches, as a vendor's retries and queues would."""
    shuffled = list(events)
    random.Random(len(events)).shuffle(shuffled)
    third = len(shuffled) // 3 + 1
    for start in range(0, len(shuffled), third):
        send(engine, vendor_id, shuffled[start : start + third], now)


def billed(engine: Engine, period: Period) -> dict[str, Decimal]:
    """Per customer external id, the lines of all invoices pricing `period`."""
    with Session(engine) as session:
        rows = session.exec(
            select(Customer.external_id, InvoiceLine.amount)
            .join(Customer, col(Customer.id) == col(InvoiceLine.customer_id))
            .where(col(InvoiceLine.period_start) == period.start)
        ).all()
    totals: dict[str, Decimal] = {}
    for customer, amount in rows:
        totals[customer] = totals.get(customer, Decimal(0)) + amount
    return totals


def test_every_period_bills_what_the_core_prices(engine: Engine, vendor: VendorFixture) -> None:
    rng = random.Random(20261128)
    plan = create_plan(engine, vendor.id, RULES)
    for customer in CUSTOMERS:
        create_customer(engine, vendor.id, customer, plan, starts_at=OCT.start)
    october = generate(rng, OCT, 160, "o")
    november = sorted(generate(rng, NOV, 160, "n"), key=lambda e: str(e["timestamp"]))
    late_october = generate(rng, OCT, 30, "lo")
    late_november = generate(rng, NOV, 30, "ln")
    voided = next(e for e in october if e["type"] == "deal.closed")

    deliver(engine, vendor.id, october, OCT.end)
    first = close(engine, OCT.end + timedelta(days=3))
    mid_november = datetime.fromisoformat(november[79]["timestamp"])
    deliver(engine, vendor.id, late_october + november[:80], mid_november)
    deliver(engine, vendor.id, november[80:], NOV.end)
    second = close(engine, NOV.end + timedelta(days=3))
    deliver(engine, vendor.id, late_november, DEC.start + timedelta(days=10))
    void_event(engine, vendor.id, voided["id"], "entered twice", DEC.start + timedelta(days=10))
    third = close(engine, DEC.end + timedelta(days=3))

    assert [len(r.invoices) for r in (first, second, third)] == [3, 3, 3]
    assert third.corrected_periods >= 2  # late November events and the October void
    rules = load_rules(RULES, "rules.yaml")
    everything = [
        event_from_json(e)
        for e in october + november + late_october + late_november
        if e is not voided
    ]
    as_of = DEC.end + timedelta(hours=48)
    for period in (OCT, NOV, DEC):
        core = price_events(rules, everything, period, as_of)
        expected = {c.customer: c.invoice.total for c in core.customers}
        for customer in CUSTOMERS:  # a customer without events still owes the minimum
            expected.setdefault(customer, Decimal("30.00"))
        assert billed(engine, period) == expected, period.label


PERCENTAGES = """\
plan: percentages
version: 1
currency: usd
billing: {timezone: Europe/Paris}
outcomes:
  small_deal: {event: deal.small, measure: {sum: properties.amount}}
  big_deal: {event: deal.big, measure: {sum: properties.amount}}
charges:
  - {name: Big deals, outcome: big_deal, model: percentage, rate: "2", per_event_max: "30"}
  - {name: Small deals, outcome: small_deal, model: percentage, rate: "10", per_event_min: "1"}
  - {name: Big deal fee, outcome: big_deal, model: percentage, rate: "0", per_event_fee: "0.25"}
"""


def test_percentage_charges_read_one_stream_in_any_charge_order(
    engine: Engine, vendor: VendorFixture
) -> None:
    plan = create_plan(engine, vendor.id, PERCENTAGES)
    for customer in CUSTOMERS:
        create_customer(engine, vendor.id, customer, plan, starts_at=OCT.start)
    rng = random.Random(7)
    events = [
        {
            "id": f"e{n}",
            "type": rng.choice(["deal.small", "deal.big"]),
            "customer": rng.choice(CUSTOMERS[:2]),  # gamma has none: its charges read nothing
            "timestamp": iso(_instant(rng, OCT)),
            "properties": {"amount": Decimal(rng.randrange(1, 500_000)).scaleb(-2)},
        }
        for n in range(120)
    ]
    deliver(engine, vendor.id, events, OCT.end)

    close(engine, OCT.end + timedelta(days=3))

    core = price_events(
        load_rules(PERCENTAGES, "rules.yaml"),
        [event_from_json(e) for e in events],
        OCT,
        OCT.end + timedelta(hours=72),
    )
    expected = {c.customer: c.invoice.total for c in core.customers} | {"gamma": Decimal(0)}
    assert billed(engine, OCT) == expected
    assert all(total > 0 for customer, total in expected.items() if customer != "gamma")
