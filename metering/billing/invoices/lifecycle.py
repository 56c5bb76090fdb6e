"""The only writer of an invoice's status and of the dates that go with it.

    draft -> issued -> paid | payment_failed | void
    payment_failed -> paid | void
    paid, void: final

Every move is one conditional UPDATE (the status must still be one the move starts from),
so two writers racing (the sync and a webhook, the API and a webhook) move an invoice once,
and a late or repeated message changes nothing. What a move entails happens in the caller's
transaction, here, so no caller can forget it:

- issued: the invoice's payment link is opened (due now) with its customer's payment
  provider, fixed for the invoice's life, and `invoice.issued` announced;
- paid, payment_failed: `invoice.paid` / `invoice.payment_failed` announced (a paid purchase
  of credits makes the grant it sold usable: `credit_purchases.activation`). There is no
  payment_failed -> payment_failed move: a payment that fails again updates the reason on
  the payment link (`payments.dunning`) and announces nothing again;
- void: the periods its credit and adjustment lines corrected are marked stale, so the next
  close bills those corrections again, the prepaid credits it drew go back to their grants
  (`credits.ledger.give_back`), and its payment provider is due to void its copy (a voided
  purchase of credits voids the grant it sold).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from metering.billing.credit_purchases import activation
from metering.billing.credits import ledger as credits_ledger
from metering.billing.invoices import repository
from metering.billing.invoices.announce import announce_issued, announce_status
from metering.billing.invoices.models import (
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceStatus,
    LineKind,
)
from metering.billing.invoices.rating import LineDraft
from metering.billing.payments import links
from metering.catalog.customers.models import Customer
from metering.ledger.outcomes.stale import mark_stale
from metering.platform.db.members import one_of
from metering.platform.db.types import utcnow
from metering.platform.monitoring import metrics

INVOICES: sa.Table = Invoice.__table__  # type: ignore[attr-defined]
LINES: sa.Table = InvoiceLine.__table__  # type: ignore[attr-defined]
CUSTOMERS: sa.Table = Customer.__table__  # type: ignore[attr-defined]

TRANSITIONS: Mapping[InvoiceStatus, frozenset[InvoiceStatus]] = {
    InvoiceStatus.DRAFT: frozenset({InvoiceStatus.ISSUED, InvoiceStatus.VOID}),
    InvoiceStatus.ISSUED: frozenset(
        {InvoiceStatus.PAID, InvoiceStatus.PAYMENT_FAILED, InvoiceStatus.VOID}
    ),
    InvoiceStatus.PAYMENT_FAILED: frozenset({InvoiceStatus.PAID, InvoiceStatus.VOID}),
    InvoiceStatus.PAID: frozenset(),
    InvoiceStatus.VOID: frozenset(),
}

# The column each move dates.
DATED: Mapping[InvoiceStatus, str] = {
    InvoiceStatus.ISSUED: "issued_at",
    InvoiceStatus.PAID: "paid_at",
    InvoiceStatus.VOID: "voided_at",
}

# Statuses from which the invoice is still collected (a payment may still come).
OPEN = (InvoiceStatus.ISSUED, InvoiceStatus.PAYMENT_FAILED)


def _sources(target: InvoiceStatus) -> list[str]:
    return sorted(status.value for status, targets in TRANSITIONS.items() if target in targets)


def _move(
    session: Session, invoice_id: str, target: InvoiceStatus, at: datetime
) -> sa.Row[tuple[str, str]] | None:
    """Move the invoice to `target` if its status allows; its vendor id and kind, or None."""
    values: dict[str, Any] = {"status": target.value, "updated_at": utcnow()}
    if target in DATED:
        values[DATED[target]] = at
    statement = (
        sa.update(INVOICES)
        .where(INVOICES.c.id == invoice_id, INVOICES.c.status.in_(_sources(target)))
        .values(values)
        .returning(INVOICES.c.vendor_id, INVOICES.c.kind)
    )
    moved: sa.Row[tuple[str, str]] | None = session.execute(statement).one_or_none()
    return moved


def issued_columns(at: datetime) -> dict[str, Any]:
    """The status columns of an invoice issued at `at` (its other dates empty)."""
    undated = {column: None for column in DATED.values()}
    return {**undated, "status": InvoiceStatus.ISSUED.value, DATED[InvoiceStatus.ISSUED]: at}


def issue(
    session: Session,
    invoices: Sequence[tuple[dict[str, Any], Sequence[LineDraft]]],
    at: datetime,
) -> None:
    """Write invoices that are issued as they are made (the close's: numbered rows with every
    other column, and their lines), in bulk."""
    if not invoices:
        return
    for row, _ in invoices:
        row.update(issued_columns(at))
    repository.insert_invoices(session, invoices)
    customer_ids = sorted({row["customer_id"] for row, _ in invoices})
    found = session.execute(
        sa.select(CUSTOMERS.c.id, CUSTOMERS.c.payment_provider).where(
            one_of(CUSTOMERS.c.id, customer_ids)
        )
    )
    providers: dict[str, str] = {row.id: row.payment_provider for row in found}
    links.open_links(
        session, [(row["id"], providers[row["customer_id"]]) for row, _ in invoices], at
    )
    announce_issued(session.connection(), [row["id"] for row, _ in invoices])
    metrics.count_issued(session, [(row["currency"], row["total"]) for row, _ in invoices])


def mark_paid(session: Session, invoice_id: str, at: datetime) -> bool:
    """Paid at `at`; whether the invoice moved (a paid or void one does not)."""
    moved = _move(session, invoice_id, InvoiceStatus.PAID, at)
    if moved is None:
        return False
    if moved.kind == InvoiceKind.CREDIT_PURCHASE.value:
        activation.on_paid(session, invoice_id, at)
    announce_status(session.connection(), invoice_id, InvoiceStatus.PAID.value)
    return True


def mark_failed(session: Session, invoice_id: str) -> bool:
    """A payment failed (its reason is on the payment link, written first: the announcement
    reads it); whether the invoice moved."""
    if _move(session, invoice_id, InvoiceStatus.PAYMENT_FAILED, utcnow()) is None:
        return False
    announce_status(session.connection(), invoice_id, InvoiceStatus.PAYMENT_FAILED.value)
    return True


def void(session: Session, invoice_id: str, at: datetime) -> bool:
    """Void the invoice; whether it moved (voiding a void or paid one does not)."""
    moved = _move(session, invoice_id, InvoiceStatus.VOID, at)
    if moved is None:
        return False
    vendor_id = moved.vendor_id
    # An interim invoice billed part of its period: the period's own invoice (if issued
    # already) counted on it, so the period is corrected again too.
    priced = (
        [LineKind.CREDIT.value, LineKind.ADJUSTMENT.value]
        if moved.kind != InvoiceKind.INTERIM.value
        else [kind.value for kind in LineKind if kind != LineKind.CREDITS]
    )
    corrected = session.execute(
        sa.select(LINES.c.customer_id, LINES.c.period_start)
        .where(LINES.c.invoice_id == invoice_id, LINES.c.kind.in_(priced))
        .distinct()
    ).all()
    # Grants before stale marks, in the order a close takes them (no deadlock between them).
    if moved.kind == InvoiceKind.CREDIT_PURCHASE.value:
        activation.on_void(session, invoice_id, at)
    else:
        credits_ledger.give_back(session, invoice_id, at)
    mark_stale(session, [(vendor_id, customer, start) for customer, start in corrected])
    links.make_due(session, invoice_id, at)
    return True
