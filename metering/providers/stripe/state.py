"""What the sync reads and writes in our database.

The sync never holds a transaction open across a Stripe call: it reads a snapshot, calls
Stripe, then writes the result in a short transaction guarded by its lease on the invoice
(a worker whose lease expired and was taken over writes nothing: `LeaseLost`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import col

from metering.billing.invoices.announce import announce_moved
from metering.billing.invoices.models import Invoice, InvoiceLine, InvoiceStatus
from metering.catalog.customers.models import Customer
from metering.catalog.plans.models import PlanVersion
from metering.platform.db.types import utcnow

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")


class LeaseLost(Exception):
    """Another worker holds the invoice now; this one stops without writing."""


@dataclass(frozen=True)
class CustomerSnapshot:
    id: str
    vendor_id: str
    external_id: str
    name: str | None
    email: str | None
    stripe_customer_id: str | None


@dataclass(frozen=True)
class LineSnapshot:
    id: str
    position: int
    kind: str
    charge_key: str
    description: str
    amount: Decimal
    period_start: datetime
    period_end: datetime
    corrects_invoice_id: str | None
    stripe_item_id: str | None


@dataclass(frozen=True)
class InvoiceSnapshot:
    id: str
    vendor_id: str
    number: int | None
    status: str
    currency: str
    total: Decimal
    collection_method: str
    days_until_due: int
    period_start: datetime
    period_end: datetime
    timezone: str
    sync_state: str
    sync_attempts: int
    stripe_invoice_id: str | None
    updated_at: datetime
    customer: CustomerSnapshot
    lines: tuple[LineSnapshot, ...]


def load(engine: Engine, invoice_id: str) -> InvoiceSnapshot:
    """The invoice, its customer and its lines as they are committed now."""
    with engine.connect() as connection:
        invoice = connection.execute(
            sa.select(Invoice.__table__).where(col(Invoice.id) == invoice_id)  # type: ignore[attr-defined]
        ).one()
        customer = connection.execute(
            sa.select(Customer.__table__).where(col(Customer.id) == invoice.customer_id)  # type: ignore[attr-defined]
        ).one()
        parsed = connection.execute(
            sa.select(col(PlanVersion.parsed)).where(col(PlanVersion.id) == invoice.plan_version_id)
        ).scalar_one()
        lines = connection.execute(
            sa.select(InvoiceLine.__table__)  # type: ignore[attr-defined]
            .where(col(InvoiceLine.invoice_id) == invoice_id)
            .order_by(col(InvoiceLine.position))
        ).all()
    days = customer.days_until_due
    if invoice.due_at is not None and invoice.issued_at is not None:
        days = max(0, (invoice.due_at - invoice.issued_at).days)
    return _copy(
        InvoiceSnapshot,
        invoice,
        days_until_due=days,
        timezone=parsed["billing"]["timezone"],
        customer=_copy(CustomerSnapshot, customer),
        lines=tuple(_copy(LineSnapshot, line) for line in lines),
    )


def _copy(snapshot: type[T], row: sa.Row[Any], **given: Any) -> T:
    """A snapshot of `row`: each field from the column of its name, unless `given`."""
    values = {
        field.name: getattr(row, field.name)
        for field in fields(snapshot)
        if field.name not in given
    }
    return snapshot(**values, **given)


def due_ids(engine: Engine, now: datetime, limit: int) -> list[str]:
    """Invoices whose next sync step is due and that no live lease holds, oldest due first."""
    query = (
        sa.select(col(Invoice.id))
        .where(
            col(Invoice.next_sync_at) <= now,
            col(Invoice.status).in_(
                [InvoiceStatus.ISSUED, InvoiceStatus.PAYMENT_FAILED, InvoiceStatus.VOID]
            ),
            sa.or_(col(Invoice.sync_lease_until).is_(None), col(Invoice.sync_lease_until) <= now),
        )
        .order_by(col(Invoice.next_sync_at), col(Invoice.id))
        .limit(limit)
    )
    with engine.connect() as connection:
        return list(connection.execute(query).scalars())


def claim(engine: Engine, invoice_id: str, owner: str, now: datetime, lease: timedelta) -> bool:
    """Take the invoice's lease with one conditional UPDATE (atomic on both databases)."""
    with engine.begin() as connection:
        result = connection.execute(
            sa.update(Invoice)
            .where(
                col(Invoice.id) == invoice_id,
                col(Invoice.next_sync_at) <= now,
                sa.or_(
                    col(Invoice.sync_lease_until).is_(None), col(Invoice.sync_lease_until) <= now
                ),
            )
            .values(sync_lease_owner=owner, sync_lease_until=now + lease)
        )
        return result.rowcount == 1


def write(
    engine: Engine,
    invoice_id: str,
    owner: str,
    values: dict[str, Any],
    *more: sa.Executable,
) -> None:
    """Update the invoice (and run `more` statements) in one transaction, if still leased."""
    with engine.begin() as connection:
        result = connection.execute(
            sa.update(Invoice)
            .where(col(Invoice.id) == invoice_id, col(Invoice.sync_lease_owner) == owner)
            .values(**values, updated_at=utcnow())
        )
        if result.rowcount != 1:
            raise LeaseLost(invoice_id)
        for statement in more:
            announce_moved(connection, connection.execute(statement))


def release(
    engine: Engine, invoice_id: str, owner: str, values: dict[str, Any], *more: sa.Executable
) -> None:
    """Write the final values and drop the lease."""
    final = {**values, "sync_lease_owner": None, "sync_lease_until": None}
    write(engine, invoice_id, owner, final, *more)


def done_statement(invoice_id: str, status_seen: str) -> sa.Executable:
    """Nothing more to do, unless the status changed meanwhile (a void must still sync)."""
    return (
        sa.update(Invoice)
        .where(col(Invoice.id) == invoice_id, col(Invoice.status) == status_seen)
        .values(next_sync_at=None)
    )


def set_status(invoice_id: str, status: InvoiceStatus, **values: Any) -> sa.Executable:
    """Move the invoice to `status`, never back from paid or void."""
    return (
        sa.update(Invoice)
        .where(
            col(Invoice.id) == invoice_id,
            col(Invoice.status).in_([InvoiceStatus.ISSUED, InvoiceStatus.PAYMENT_FAILED]),
        )
        .values(status=status.value, updated_at=utcnow(), **values)
        .returning(col(Invoice.id), col(Invoice.status))
    )


def set_stripe_customer(customer_id: str, stripe_customer_id: str) -> sa.Executable:
    """Link the customer to Stripe once; a link made meanwhile by another invoice stays."""
    return (
        sa.update(Customer)
        .where(col(Customer.id) == customer_id, col(Customer.stripe_customer_id).is_(None))
        .values(stripe_customer_id=stripe_customer_id, updated_at=utcnow())
    )


def set_stripe_item(line_id: str, stripe_item_id: str) -> sa.Executable:
    return (
        sa.update(InvoiceLine)
        .where(col(InvoiceLine.id) == line_id)
        .values(stripe_item_id=stripe_item_id)
    )
