"""Issued invoices written row by row (what a close leaves behind), for the sync tests, and
our rows read back with their payment links."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from metering.billing.invoices.models import Invoice, InvoiceLine, InvoiceStatus, LineKind
from metering.billing.payments import links
from metering.billing.payments.models import InvoicePaymentLink
from metering.catalog.customers.models import Customer
from metering.catalog.subscriptions.models import Subscription
from metering.platform.db.ids import new_id
from tests.metering.conftest import create_customer, create_plan, create_vendor

PERIOD_START = datetime(2026, 10, 1, tzinfo=UTC)
PERIOD_END = datetime(2026, 11, 1, tzinfo=UTC)
ISSUED_AT = datetime(2026, 11, 4, tzinfo=UTC)
NOW = datetime(2026, 11, 4, 1, tzinfo=UTC)

STRIPE = "stripe"

# Five lines, one a credit for the previous period: 41.58 + 15.00 + 0.99 - 1.98 + 3.41 = 59.00.
FIVE_LINES = ["41.58", "15.00", "0.99", "-1.98", "3.41"]


@dataclass(frozen=True)
class Billing:
    """A vendor with a plan, and one customer subscribed to it."""

    vendor_id: str
    customer_id: str
    subscription_id: str
    plan_version_id: str


def billing(
    engine: Engine,
    external_id: str = "acme",
    stripe_customer_id: str | None = None,
    collection_method: str = "charge_automatically",
    days_until_due: int = 30,
    vendor_id: str | None = None,
) -> Billing:
    if vendor_id is None:
        vendor_id = create_vendor(engine, "Acme AI").id
    plan_id = create_plan(engine, vendor_id)
    customer_id = create_customer(engine, vendor_id, external_id, plan_id)
    with Session(engine) as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None
        customer.name = f"{external_id.title()} Inc."
        customer.email = f"billing@{external_id}.test"
        customer.collection_method = collection_method
        customer.days_until_due = days_until_due
        session.add(customer)
        subscription = session.exec(
            select(Subscription).where(Subscription.customer_id == customer_id)
        ).one()
        if stripe_customer_id is not None:
            links.link_customer(session, customer_id, STRIPE, stripe_customer_id)
        session.commit()
        return Billing(vendor_id, customer_id, subscription.id, subscription.plan_version_id)


def issued_invoice(
    engine: Engine,
    billed: Billing,
    amounts: list[str],
    number: int = 1,
    total: Decimal | None = None,
    collection_method: str | None = None,
    period_start: datetime = PERIOD_START,
    provider: str | None = STRIPE,
) -> str:
    """An issued invoice with one line per amount (negative: a credit line), due for sync at
    `provider` (the customer's when it was issued; None: whichever provider takes it)."""
    with Session(engine) as session:
        customer = session.get(Customer, billed.customer_id)
        assert customer is not None
        method = collection_method or customer.collection_method
        invoice = Invoice(
            id=new_id("inv"),
            vendor_id=billed.vendor_id,
            customer_id=billed.customer_id,
            subscription_id=billed.subscription_id,
            plan_version_id=billed.plan_version_id,
            number=number,
            status=InvoiceStatus.ISSUED.value,
            currency="usd",
            period_start=period_start,
            period_end=PERIOD_END,
            as_of=ISSUED_AT,
            total=sum((Decimal(a) for a in amounts), Decimal(0)) if total is None else total,
            collection_method=method,
            issued_at=ISSUED_AT,
            due_at=ISSUED_AT + timedelta(days=customer.days_until_due)
            if method == "send_invoice"
            else None,
        )
        session.add(invoice)
        session.flush()
        session.add(
            InvoicePaymentLink(invoice_id=invoice.id, provider=provider, next_attempt_at=ISSUED_AT)
        )
        for position, amount in enumerate(amounts, start=1):
            credit = amount.startswith("-")
            session.add(
                InvoiceLine(
                    id=new_id("lin"),
                    invoice_id=invoice.id,
                    customer_id=billed.customer_id,
                    position=position,
                    kind=(LineKind.CREDIT if credit else LineKind.CHARGE).value,
                    charge_key=f"charge:{position}:resolved_conversation",
                    description=("Credit: " if credit else "") + f"Line {position}",
                    outcome="resolved_conversation",
                    period_start=PERIOD_START - timedelta(days=31) if credit else PERIOD_START,
                    period_end=PERIOD_START if credit else PERIOD_END,
                    quantity=Decimal(position),
                    amount=Decimal(amount),
                )
            )
        session.commit()
        return invoice.id


@dataclass(frozen=True)
class InvoiceState:
    """An invoice with its payment link, under the names the API gives them."""

    id: str
    status: str
    total: Decimal
    paid_at: datetime | None
    voided_at: datetime | None
    sync_state: str
    sync_error: str | None
    sync_attempts: int
    next_sync_at: datetime | None
    sync_lease_owner: str | None
    stripe_invoice_id: str | None
    stripe_hosted_url: str | None


def invoice_row(engine: Engine, invoice_id: str) -> InvoiceState:
    with Session(engine) as session:
        invoice = session.get(Invoice, invoice_id)
        link = session.get(InvoicePaymentLink, invoice_id)
        assert invoice is not None and link is not None
        return InvoiceState(
            id=invoice.id,
            status=invoice.status,
            total=invoice.total,
            paid_at=invoice.paid_at,
            voided_at=invoice.voided_at,
            sync_state=link.step,
            sync_error=link.error,
            sync_attempts=link.attempts,
            next_sync_at=link.next_attempt_at,
            sync_lease_owner=link.lease_owner,
            stripe_invoice_id=link.external_id,
            stripe_hosted_url=link.hosted_url,
        )


def stripe_items(engine: Engine, lines: list[InvoiceLine]) -> list[str | None]:
    """The Stripe item of each line, in order (None: none stored)."""
    with Session(engine) as session:
        found = links.item_ids(session, [line.id for line in lines])
    return [found.get(line.id) for line in lines]


def stripe_customer_of(engine: Engine, customer_id: str) -> str | None:
    """The Stripe customer linked to ours, if any."""
    with Session(engine) as session:
        return links.customer_external_id(session, customer_id, STRIPE)


def link_stripe_customer(engine: Engine, customer_id: str, stripe_customer_id: str) -> None:
    """Link ours to an existing Stripe customer (one with a card, made in the harness)."""
    with Session(engine) as session:
        links.link_customer(session, customer_id, STRIPE, stripe_customer_id)
        session.commit()
