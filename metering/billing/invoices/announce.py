"""`invoice.issued`, `invoice.paid`, `invoice.payment_failed` and `invoice.uncollectible`:
what they say.

The lifecycle (`invoices.lifecycle`) calls them in the transaction that moves the invoice, and
dunning (`payments.dunning`) calls `announce_uncollectible` in the one that gives up on it;
they read what the event says from the rows as that transaction sees them.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from metering.billing.invoices.models import Invoice, InvoiceStatus
from metering.billing.payments.links import LINKS
from metering.billing.payments.models import SyncState
from metering.billing.payments.protocol import DECLINE_WORDS, DeclineCode
from metering.catalog.customers.models import Customer
from metering.platform.db.members import one_of
from metering.platform.outbox.models import EventType
from metering.platform.outbox.service import enqueue_many
from pricing_rules.engine import money_text
from pricing_rules.money import minor_units

INVOICES: sa.Table = Invoice.__table__  # type: ignore[attr-defined]
CUSTOMERS: sa.Table = Customer.__table__  # type: ignore[attr-defined]

STATUS_EVENTS = {
    InvoiceStatus.PAID.value: EventType.INVOICE_PAID,
    InvoiceStatus.PAYMENT_FAILED.value: EventType.INVOICE_PAYMENT_FAILED,
}


def invoice_data(row: Any) -> dict[str, Any]:
    """The `data` of an invoice event: which invoice, whose, which period, how much."""
    data: dict[str, Any] = {
        "invoice": row.id,
        "number": row.number,
        "status": row.status,
        "customer": {"id": row.customer_id, "external_id": row.external_id},
        "period": {"start": row.period_start, "end": row.period_end},
        "total": money_text(row.total, minor_units(row.currency)),
        "currency": row.currency,
    }
    if row.status == InvoiceStatus.PAID.value:
        data["paid_at"] = row.paid_at
    if row.status == InvoiceStatus.PAYMENT_FAILED.value:
        data["error"] = row.sync_error
        data["payment_error"] = payment_error(row)
    return data


def payment_error(link: Any) -> dict[str, Any]:
    """Why the payment failed in plain words, how often it did, and when it is tried next
    (`next_retry_at` null: no retry is scheduled), from a payment link (or a row with its
    columns)."""
    code = link.decline_code or DeclineCode.OTHER.value
    words = DECLINE_WORDS.get(DeclineCode(code))
    return {
        "code": code,
        "message": words or link.error or "The payment failed.",
        "failed_payments": link.failed_payments,
        "first_failed_at": link.first_failed_at,
        "next_retry_at": link.next_attempt_at if link.step == SyncState.FAILED.value else None,
        "uncollectible_at": link.uncollectible_at,
    }


def _invoices(connection: Connection, invoice_ids: Collection[str]) -> Sequence[Any]:
    i, c, link = INVOICES.c, CUSTOMERS.c, LINKS.c
    statement = (
        sa.select(
            i.id,
            i.vendor_id,
            i.number,
            i.status,
            i.customer_id,
            c.external_id,
            i.period_start,
            i.period_end,
            i.total,
            i.currency,
            i.paid_at,
            link.error.label("sync_error"),
            link.error,
            link.step,
            link.decline_code,
            link.failed_payments,
            link.first_failed_at,
            link.next_attempt_at,
            link.uncollectible_at,
        )
        .join(CUSTOMERS, c.id == i.customer_id)
        .outerjoin(LINKS, link.invoice_id == i.id)
        .where(one_of(i.id, sorted(invoice_ids)))
        .order_by(i.id)
    )
    return connection.execute(statement).all()


def announce(connection: Connection, event_type: EventType, invoice_ids: Collection[str]) -> int:
    """Enqueue `event_type` for each invoice, per vendor; the deliveries written."""
    by_vendor: dict[str, list[dict[str, Any]]] = {}
    for row in _invoices(connection, invoice_ids) if invoice_ids else ():
        by_vendor.setdefault(row.vendor_id, []).append(invoice_data(row))
    return sum(
        enqueue_many(connection, vendor_id, event_type.value, items)
        for vendor_id, items in by_vendor.items()
    )


def announce_issued(connection: Connection, invoice_ids: Collection[str]) -> int:
    """`invoice.issued` for invoices just written (same transaction)."""
    return announce(connection, EventType.INVOICE_ISSUED, invoice_ids)


def announce_status(connection: Connection, invoice_id: str, status: str) -> int:
    """`invoice.paid` or `invoice.payment_failed` once the invoice moved to that status;
    other statuses announce nothing."""
    event_type = STATUS_EVENTS.get(status)
    return 0 if event_type is None else announce(connection, event_type, [invoice_id])


def announce_uncollectible(connection: Connection, invoice_id: str) -> int:
    """`invoice.uncollectible`: the last scheduled retry of its payment failed."""
    return announce(connection, EventType.INVOICE_UNCOLLECTIBLE, [invoice_id])
