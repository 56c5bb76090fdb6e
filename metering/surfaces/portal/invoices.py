"""The customer's invoices as the portal shows them: issued ones only, newest period first.

Drafts are not shown (they are not final); another customer's invoice is as unknown as a
missing one. Pages are cut by period start, unique per customer, so a cursor never skips or
repeats an invoice when a new one is issued between two pages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlmodel import Session, col, select

from metering.billing.invoices import repository
from metering.billing.invoices.announce import payment_error
from metering.billing.invoices.models import Invoice, InvoiceLine, InvoiceStatus
from metering.billing.invoices.usage import id_count
from metering.billing.payments import links
from metering.catalog.plans.compiled import rules_of
from metering.platform.api.pagination import decode_cursor, encode_cursor, invalid_cursor
from metering.platform.web.format import Formatter

PAGE_SIZE = 20

# Invoices the customer still has to pay.
OPEN = (InvoiceStatus.ISSUED.value, InvoiceStatus.PAYMENT_FAILED.value)


def listing(
    session: Session, customer_id: str, cursor: str | None, limit: int = PAGE_SIZE
) -> tuple[Sequence[Invoice], str | None]:
    """A page of the customer's issued invoices, newest period first, and the next cursor."""
    statement = select(Invoice).where(
        Invoice.customer_id == customer_id, col(Invoice.status) != InvoiceStatus.DRAFT.value
    )
    if cursor is not None:
        after = decode_cursor(cursor)
        try:
            before = datetime.fromisoformat(str(after))
        except ValueError:
            before = None
        if before is None or before.tzinfo is None:
            raise invalid_cursor(cursor, "is not a cursor of this list")
        statement = statement.where(col(Invoice.period_start) < before)
    rows = session.exec(statement.order_by(col(Invoice.period_start).desc()).limit(limit + 1)).all()
    if len(rows) <= limit:
        return rows, None
    page = rows[:limit]
    return page, encode_cursor(page[-1].period_start.isoformat())


def of_customer(session: Session, customer_id: str, invoice_id: str) -> Invoice | None:
    """The customer's issued invoice `invoice_id`, or None (missing, a draft, or not theirs)."""
    invoice = session.get(Invoice, invoice_id)
    if (
        invoice is None
        or invoice.customer_id != customer_id
        or invoice.status == InvoiceStatus.DRAFT.value
    ):
        return None
    return invoice


@dataclass(frozen=True)
class Tier:
    """One tier's share of a graduated or volume line (decimal strings as stored)."""

    tier: int
    first_unit: str | None
    last_unit: str | None
    units: str | None
    unit_price: str | None
    flat_price: str | None
    amount: str | None


@dataclass(frozen=True)
class LineView:
    line: InvoiceLine
    text: str
    tiers: list[Tier]
    outcome_count: int
    corrects: Invoice | None

    @property
    def amount(self) -> Decimal:
        return self.line.amount


def _last_unit(tier: dict[str, Any]) -> str | None:
    """The tier's last unit billed; an open last tier ends where its units do."""
    last, first, units = tier.get("last_unit"), tier.get("first_unit"), tier.get("units")
    if last is None and first is not None and units is not None:
        return str(Decimal(first) + Decimal(units) - 1)
    return None if last is None else str(last)


def _tiers(detail: dict[str, Any]) -> list[Tier]:
    """The tiers that billed units (an empty tier says nothing about this invoice)."""
    tiers = [t for t in detail.get("tiers") or [] if isinstance(t, dict)]
    return [
        Tier(
            tier=int(t.get("tier", index + 1)),
            first_unit=t.get("first_unit"),
            last_unit=_last_unit(t),
            units=t.get("units"),
            unit_price=t.get("unit_price"),
            flat_price=t.get("flat_price"),
            amount=t.get("amount"),
        )
        for index, t in enumerate(tiers)
        if t.get("units") is None or Decimal(str(t["units"])) != 0
    ]


def lines(session: Session, invoice: Invoice) -> list[LineView]:
    """The invoice's lines with their tier detail, and the invoices corrections correct."""
    rows = repository.lines_of(session, invoice.id)
    corrected_ids = {row.corrects_invoice_id for row in rows if row.corrects_invoice_id}
    corrected = {
        found.id: found
        for found in repository.invoices_by_id(session, corrected_ids)
        if found.customer_id == invoice.customer_id
    }
    return [
        LineView(
            line=row,
            text=str(row.detail.get("text", "")) if isinstance(row.detail, dict) else "",
            tiers=_tiers(row.detail) if isinstance(row.detail, dict) else [],
            outcome_count=id_count(row.outcome_ids),
            corrects=corrected.get(row.corrects_invoice_id or ""),
        )
        for row in rows
    ]


@dataclass(frozen=True)
class FailedPayment:
    """An invoice of the customer whose payment failed, and why in plain words."""

    invoice: Invoice
    message: str


def failed_payments(session: Session, customer_id: str) -> list[FailedPayment]:
    """The customer's invoices whose payment failed, newest period first (the portal's
    banner on every page)."""
    failed = session.exec(
        select(Invoice)
        .where(
            Invoice.customer_id == customer_id,
            Invoice.status == InvoiceStatus.PAYMENT_FAILED.value,
        )
        .order_by(col(Invoice.period_start).desc())
    ).all()
    found = links.of_invoices(session, [invoice.id for invoice in failed])
    return [
        FailedPayment(
            invoice,
            payment_error(found[invoice.id])["message"]
            if invoice.id in found
            else "The payment failed.",
        )
        for invoice in failed
    ]


@dataclass(frozen=True)
class OpenInvoice:
    """An invoice still to be paid: where to pay it (the provider's hosted page, if it has
    one) and by when."""

    invoice: Invoice
    pay_url: str | None
    owed: Decimal


def open_invoices(session: Session, customer_id: str) -> list[OpenInvoice]:
    """The customer's issued and payment-failed invoices, soonest due first."""
    rows = session.exec(
        select(Invoice)
        .where(Invoice.customer_id == customer_id, col(Invoice.status).in_(OPEN))
        .order_by(col(Invoice.due_at), col(Invoice.period_start))
    ).all()
    urls = hosted_urls(session, rows)
    owed = taxes(session, rows)
    return [OpenInvoice(row, urls.get(row.id), owed[row.id].owed) for row in rows]


def hosted_urls(session: Session, invoices: Sequence[Invoice]) -> dict[str, str]:
    """Invoice id -> its page at its payment provider, for the invoices that have one."""
    found = links.of_invoices(session, [invoice.id for invoice in invoices])
    return {key: link.hosted_url for key, link in found.items() if link.hosted_url}


@dataclass(frozen=True)
class Taxed:
    """The invoice's tax as its provider computed it (None: no tax), and what is owed."""

    tax: Decimal | None
    lines: list[dict[str, Any]]
    owed: Decimal


def taxes(session: Session, invoices: Sequence[Invoice]) -> dict[str, Taxed]:
    """Invoice id -> its tax and the total the customer pays (one query)."""
    found = links.of_invoices(session, [invoice.id for invoice in invoices])
    shown = {}
    for invoice in invoices:
        link = found.get(invoice.id)
        tax = link.tax if link is not None else None
        lines = (link.tax_lines or []) if link is not None and tax is not None else []
        shown[invoice.id] = Taxed(tax, lines, links.owed(invoice.total, link))
    return shown


def hosted_url(session: Session, invoice: Invoice) -> str | None:
    """Where the customer views and pays the invoice at its payment provider, if anywhere."""
    link = links.of_invoices(session, [invoice.id]).get(invoice.id)
    return None if link is None else link.hosted_url


def formatter_of(session: Session, invoice: Invoice, locale: str) -> Formatter:
    """Dates in the timezone of the plan version that priced the invoice, its currency."""
    rules = rules_of(session, invoice.plan_version_id)
    return Formatter(locale=locale, timezone=rules.billing.timezone, currency=invoice.currency)
