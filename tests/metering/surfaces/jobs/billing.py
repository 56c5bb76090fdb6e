"""Customers with events in closed months, for jobs that close periods and sync invoices."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.billing.invoices.models import Invoice
from metering.ledger.events.service import ingest, limits_of
from metering.platform.db.types import utcnow
from metering.platform.settings import Settings
from pricing_rules.periods import Period, next_period, period_containing
from tests.metering.conftest import create_customer, create_plan, create_vendor

PRICE = Decimal("0.99")  # per resolved conversation in SUPPORT_RULES (monthly, UTC)
CLOSE_AFTER = timedelta(hours=72)


@dataclass(frozen=True)
class Billing:
    """Customers subscribed since the first of `periods[0]`, with events in each period."""

    vendor_id: str
    customer_ids: list[str]
    periods: list[Period]
    conversations: int

    def due_periods(self, now: datetime) -> list[Period]:
        """Every period from the first one that has ended and passed its late window."""
        due, period = [], self.periods[0]
        while period.end + CLOSE_AFTER <= now:
            due.append(period)
            period = next_period(period, "month", "UTC")
        return due

    def total_of(self, period: Period) -> Decimal:
        return PRICE * self.conversations if period in self.periods else Decimal("0.00")


def months_back(months: int, now: datetime) -> list[Period]:
    """The `months` whole months before the one containing `now`, oldest first."""
    periods = [period_containing(now, "month", "UTC")]
    for _ in range(months):
        periods.insert(0, period_containing(periods[0].start - timedelta(days=1), "month", "UTC"))
    return periods[:-1]


def seed_billing(
    engine: Engine, customers: int, conversations: int, vendor_id: str | None = None
) -> Billing:
    """`conversations` resolved conversations per customer in each of two closed months,
    for a new vendor or the one given.

    The months are the third and second before this one, so both are due whatever today's
    date (the late window is 72 h).
    """
    periods = months_back(3, utcnow())[:2]
    vendor_id = vendor_id or create_vendor(engine, "Jobs AI").id
    plan_id = create_plan(engine, vendor_id)
    externals = [f"customer-{number:03d}" for number in range(customers)]
    customer_ids = [
        create_customer(engine, vendor_id, external, plan_id, starts_at=periods[0].start)
        for external in externals
    ]
    limits = limits_of(Settings())
    for month, period in enumerate(periods):
        at = period.start + timedelta(days=10)
        items = [
            {
                "id": f"evt-{external}-{month}-{number}",
                "type": "conversation.resolved",
                "customer": external,
                "timestamp": at.isoformat(),
                "properties": {
                    "conversation_id": f"conv-{month}-{number}",
                    "channel": "chat",
                    "handled_by": "ai",
                },
            }
            for external in externals
            for number in range(conversations)
        ]
        with Session(engine) as session:
            result = ingest(session, vendor_id, items, at + timedelta(minutes=1), limits)
            session.commit()
        assert not result.rejected, result.rejected
    return Billing(vendor_id, customer_ids, periods, conversations)


def invoices_by_period(engine: Engine) -> dict[tuple[str, datetime], list[Invoice]]:
    """Every stored invoice, grouped by (customer, period start)."""
    grouped: dict[tuple[str, datetime], list[Invoice]] = {}
    with Session(engine) as session:
        for invoice in session.scalars(sa.select(Invoice)):
            key = (invoice.customer_id, invoice.period_start.astimezone(UTC))
            grouped.setdefault(key, []).append(invoice)
    return grouped


def invoice_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.select(sa.func.count()).select_from(Invoice)).scalar_one())
