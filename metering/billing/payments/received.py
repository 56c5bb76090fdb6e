"""Payments received outside the payment provider (a bank transfer, a cheque), recorded
through the API.

A payment is kept as it arrived; the invoice is paid once its payments cover the total, and
its provider then marks its own copy paid (Stripe: paid out of band) so the customer is never
asked for the money again. Until then a partly paid invoice is not charged by the provider
(it would charge the whole total): its automatic retries stop, and the rest is collected the
same way. The reference names a payment: recording it again finds it, never counts it twice.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from metering.billing.invoices import lifecycle
from metering.billing.invoices.models import Invoice
from metering.billing.payments import links
from metering.billing.payments.models import InvoicePayment, SyncState
from metering.billing.payments.schemas import PaymentCreate, PaymentOut
from metering.platform.api import problems
from metering.platform.db.ids import new_id
from pricing_rules.engine import money_text
from pricing_rules.money import minor_units

INVOICES: sa.Table = Invoice.__table__  # type: ignore[attr-defined]

# A payment dated later than this after today (UTC) is refused: ahead of every timezone.
LATEST_DATE_AHEAD = timedelta(hours=14)


@dataclass(frozen=True)
class Recorded:
    """The payment, and whether this request recorded it (False: it was recorded before)."""

    payment: InvoicePayment
    created: bool


def amounts_paid(session: Session, invoice_ids: Collection[str]) -> dict[str, Decimal]:
    """Invoice id -> what its recorded payments add up to, for those that have any."""
    if not invoice_ids:
        return {}
    rows = session.exec(
        select(InvoicePayment).where(col(InvoicePayment.invoice_id).in_(sorted(invoice_ids)))
    ).all()
    paid: dict[str, Decimal] = {}
    for row in rows:
        paid[row.invoice_id] = paid.get(row.invoice_id, Decimal(0)) + row.amount
    return paid


def payments_of(session: Session, invoice_id: str) -> list[InvoicePayment]:
    """The invoice's payments, oldest first."""
    return list(
        session.exec(
            select(InvoicePayment)
            .where(InvoicePayment.invoice_id == invoice_id)
            .order_by(col(InvoicePayment.id))
        ).all()
    )


def listing(invoice_id: str) -> SelectOfScalar[InvoicePayment]:
    return select(InvoicePayment).where(InvoicePayment.invoice_id == invoice_id)


def _money(amount: Decimal, currency: str) -> str:
    return money_text(amount, minor_units(currency))


def payment_out(payment: InvoicePayment) -> PaymentOut:
    return PaymentOut(
        id=payment.id,
        invoice_id=payment.invoice_id,
        amount=_money(payment.amount, payment.currency),
        currency=payment.currency,
        paid_on=payment.paid_on,
        reference=payment.reference,
        method=payment.method,
        created_at=payment.created_at,
    )


def _same(payment: InvoicePayment, amount: Decimal, data: PaymentCreate) -> bool:
    return (payment.amount, payment.paid_on, payment.method) == (
        amount,
        data.paid_on,
        data.method.value,
    )


def _amount(invoice: Invoice, data: PaymentCreate, due: Decimal) -> Decimal:
    """The amount, if it is one the invoice can take now; else the 422 saying why."""
    amount = Decimal(data.amount)
    digits = minor_units(invoice.currency)
    currency = invoice.currency
    if amount != amount.quantize(Decimal(1).scaleb(-digits)):
        raise problems.INVALID_PAYMENT.error(
            f"amount {data.amount} has more decimals than {currency} has ({digits})."
        )
    if amount <= 0:
        raise problems.INVALID_PAYMENT.error(f"amount {data.amount} is not above zero.")
    if amount > due:
        raise problems.INVALID_PAYMENT.error(
            f"amount {_money(amount, currency)} {currency} is more than the "
            f"{_money(due, currency)} {currency} due on invoice '{invoice.id}'."
        )
    return amount


def record(session: Session, invoice: Invoice, data: PaymentCreate, now: datetime) -> Recorded:
    """Record a payment of the invoice (the caller commits); the invoice is paid when its
    payments cover it. The invoice row is locked first, so two payments recorded at once
    are checked against each other."""
    session.execute(sa.select(INVOICES.c.id).where(INVOICES.c.id == invoice.id).with_for_update())
    session.refresh(invoice)
    existing = session.exec(
        select(InvoicePayment).where(
            InvoicePayment.invoice_id == invoice.id, InvoicePayment.reference == data.reference
        )
    ).first()
    if existing is not None:
        if not _same(existing, Decimal(data.amount), data):
            raise problems.PAYMENT_REFERENCE_CONFLICT.error(
                f"Payment '{existing.id}' with reference '{data.reference}' was recorded for "
                f"invoice '{invoice.id}' as {_money(existing.amount, existing.currency)} "
                f"{existing.currency} paid on {existing.paid_on} ({existing.method}).",
                extra={"payment_id": existing.id},
            )
        return Recorded(existing, created=False)
    if invoice.status not in lifecycle.OPEN:
        raise problems.INVOICE_NOT_PAYABLE.error(
            f"Invoice '{invoice.id}' is {invoice.status}: payments are recorded against "
            "issued and payment_failed invoices."
        )
    if data.paid_on > (now + LATEST_DATE_AHEAD).date():
        raise problems.INVALID_PAYMENT.error(f"paid_on {data.paid_on} is in the future.")
    paid = amounts_paid(session, [invoice.id]).get(invoice.id, Decimal(0))
    owed = links.owed(invoice.total, links.of_invoices(session, [invoice.id]).get(invoice.id))
    amount = _amount(invoice, data, owed - paid)
    payment = InvoicePayment(
        id=new_id("pay"),
        invoice_id=invoice.id,
        vendor_id=invoice.vendor_id,
        amount=amount,
        currency=invoice.currency,
        paid_on=data.paid_on,
        reference=data.reference,
        method=data.method.value,
        created_at=now,
    )
    session.add(payment)
    session.flush()
    if paid + amount == owed:
        lifecycle.mark_paid(session, invoice.id, now)
        links.make_due(session, invoice.id, now)  # its provider marks its copy paid
    else:
        _stop_retries(session, invoice.id)
    session.refresh(invoice)
    return Recorded(payment, created=True)


def _stop_retries(session: Session, invoice_id: str) -> None:
    """A partly paid invoice is not charged again automatically (the whole total would be)."""
    session.execute(
        sa.update(links.LINKS)
        .where(
            links.LINKS.c.invoice_id == invoice_id,
            links.LINKS.c.step == SyncState.FAILED.value,
        )
        .values(next_attempt_at=None)
    )
