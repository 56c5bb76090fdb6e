"""What the sync reads and writes in our database.

The sync never holds a transaction open across a provider call: it reads a snapshot, calls
the provider, then writes the result in a short transaction guarded by its lease on the
invoice's payment link (a worker whose lease expired and was taken over writes nothing:
`LeaseLost`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.billing.invoices.models import Invoice, InvoiceLine, InvoiceStatus
from metering.billing.payments.links import CUSTOMERS, ITEMS, LINKS, PAYMENTS
from metering.billing.payments.protocol import CustomerSnapshot, InvoiceSnapshot, LineSnapshot
from metering.catalog.customers.models import Customer
from metering.catalog.plans.models import PlanVersion
from metering.catalog.vendors.models import Vendor
from metering.platform.db.types import utcnow

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")

INVOICES: sa.Table = Invoice.__table__  # type: ignore[attr-defined]
LINES: sa.Table = InvoiceLine.__table__  # type: ignore[attr-defined]
CUSTOMER_ROWS: sa.Table = Customer.__table__  # type: ignore[attr-defined]
VERSIONS: sa.Table = PlanVersion.__table__  # type: ignore[attr-defined]
VENDORS: sa.Table = Vendor.__table__  # type: ignore[attr-defined]

# What the sync does to an invoice in the transaction that saves a step (a lifecycle move).
Then = Callable[[Session], object]


class LeaseLost(Exception):
    """Another worker holds the invoice now; this one stops without writing."""


def load(engine: Engine, invoice_id: str) -> InvoiceSnapshot:
    """The invoice, its customer, lines and payment link as they are committed now."""
    with engine.connect() as connection:
        invoice = connection.execute(sa.select(INVOICES).where(INVOICES.c.id == invoice_id)).one()
        link = connection.execute(sa.select(LINKS).where(LINKS.c.invoice_id == invoice_id)).one()
        customer = connection.execute(
            sa.select(CUSTOMER_ROWS).where(CUSTOMER_ROWS.c.id == invoice.customer_id)
        ).one()
        provider_customer = connection.execute(
            sa.select(CUSTOMERS.c.external_id).where(
                CUSTOMERS.c.customer_id == invoice.customer_id,
                CUSTOMERS.c.provider == link.provider,
            )
        ).scalar_one_or_none()
        tax_provider = connection.execute(
            sa.select(VENDORS.c.tax_provider).where(VENDORS.c.id == invoice.vendor_id)
        ).scalar_one_or_none()
        parsed = connection.execute(
            sa.select(VERSIONS.c.parsed).where(VERSIONS.c.id == invoice.plan_version_id)
        ).scalar_one()
        lines = connection.execute(
            sa.select(LINES, ITEMS.c.external_id.label("provider_item_id"))
            .outerjoin(ITEMS, ITEMS.c.line_id == LINES.c.id)
            .where(LINES.c.invoice_id == invoice_id)
            .order_by(LINES.c.position)
        ).all()
        paid = connection.execute(
            sa.select(PAYMENTS.c.amount).where(PAYMENTS.c.invoice_id == invoice_id)
        ).scalars()
        amount_paid = sum(paid, Decimal(0))
    days = customer.days_until_due
    if invoice.due_at is not None and invoice.issued_at is not None:
        days = max(0, (invoice.due_at - invoice.issued_at).days)
    return _copy(
        InvoiceSnapshot,
        invoice,
        days_until_due=days,
        timezone=parsed["billing"]["timezone"],
        step=link.step,
        attempts=link.attempts,
        key_round=link.key_round,
        provider_invoice_id=link.external_id,
        link_updated_at=link.updated_at,
        next_attempt_at=link.next_attempt_at,
        amount_paid=amount_paid,
        customer=_copy(CustomerSnapshot, customer, provider_id=provider_customer),
        lines=tuple(_copy(LineSnapshot, line) for line in lines),
        tax_provider=tax_provider,
    )


def _copy(snapshot: type[T], row: sa.Row[Any], **given: Any) -> T:
    """A snapshot of `row`: each field from the column of its name, unless `given`."""
    values = {
        field.name: getattr(row, field.name)
        for field in fields(snapshot)
        if field.name not in given
    }
    return snapshot(**values, **given)


def _takes(provider: str) -> sa.ColumnElement[bool]:
    """Links this provider works on: its own, and those no provider has taken yet."""
    return sa.or_(LINKS.c.provider.is_(None), LINKS.c.provider == provider)


def _free(now: datetime) -> sa.ColumnElement[bool]:
    return sa.or_(LINKS.c.lease_until.is_(None), LINKS.c.lease_until <= now)


def due_ids(engine: Engine, provider: str, now: datetime, limit: int) -> list[str]:
    """Invoices whose next sync step is due and that no live lease holds, oldest due first."""
    query = (
        sa.select(LINKS.c.invoice_id)
        .join(INVOICES, INVOICES.c.id == LINKS.c.invoice_id)
        .where(
            LINKS.c.next_attempt_at <= now,
            INVOICES.c.status.in_(
                [
                    InvoiceStatus.ISSUED,
                    InvoiceStatus.PAYMENT_FAILED,
                    InvoiceStatus.PAID,  # paid outside the provider: its copy is marked paid
                    InvoiceStatus.VOID,
                ]
            ),
            _takes(provider),
            _free(now),
        )
        .order_by(LINKS.c.next_attempt_at, LINKS.c.invoice_id)
        .limit(limit)
    )
    with engine.connect() as connection:
        return list(connection.execute(query).scalars())


def claim(
    engine: Engine, invoice_id: str, provider: str, owner: str, now: datetime, lease: timedelta
) -> bool:
    """Take the invoice's lease with one conditional UPDATE (atomic on both databases); the
    provider takes the invoice for good if none had."""
    with engine.begin() as connection:
        result = connection.execute(
            sa.update(LINKS)
            .where(
                LINKS.c.invoice_id == invoice_id,
                LINKS.c.next_attempt_at <= now,
                _takes(provider),
                _free(now),
            )
            .values(
                lease_owner=owner,
                lease_until=now + lease,
                provider=sa.func.coalesce(LINKS.c.provider, provider),
            )
        )
        return result.rowcount == 1


def write(engine: Engine, invoice_id: str, owner: str, values: dict[str, Any], *then: Then) -> None:
    """Update the link (and do `then`) in one transaction, if the lease is still ours."""
    with Session(engine) as session, session.begin():
        result = session.connection().execute(
            sa.update(LINKS)
            .where(LINKS.c.invoice_id == invoice_id, LINKS.c.lease_owner == owner)
            .values(**values, updated_at=utcnow())
        )
        if result.rowcount != 1:
            raise LeaseLost(invoice_id)
        for step in then:
            step(session)


def release(
    engine: Engine, invoice_id: str, owner: str, values: dict[str, Any], *then: Then
) -> None:
    """Write the final values and drop the lease."""
    write(engine, invoice_id, owner, {**values, "lease_owner": None, "lease_until": None}, *then)


def done(invoice_id: str, status_seen: str, due_seen: datetime | None) -> Then:
    """Nothing more to do: the due time that brought this pass is cleared, unless the
    status changed meanwhile (a void must still sync) or someone set another due time (a
    step scheduling a retry, a payment method updated meanwhile)."""
    status_now = sa.select(INVOICES.c.status).where(INVOICES.c.id == invoice_id).scalar_subquery()
    same_due = (
        LINKS.c.next_attempt_at.is_(None)
        if due_seen is None
        else LINKS.c.next_attempt_at == due_seen
    )

    def finish(session: Session) -> None:
        session.execute(
            sa.update(LINKS)
            .where(LINKS.c.invoice_id == invoice_id, status_now == status_seen, same_due)
            .values(next_attempt_at=None)
        )

    return finish
