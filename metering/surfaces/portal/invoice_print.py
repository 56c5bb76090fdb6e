"""The invoice as printed: what the PDF shows, built from the stored invoice, its lines and
its payment link, formatted as the invoice page formats it (`portal.invoices`)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from sqlmodel import Session

from metering.billing.invoices.announce import payment_error
from metering.billing.invoices.models import Invoice, InvoiceStatus
from metering.billing.payments import links, received
from metering.catalog.customers.models import Customer
from metering.catalog.plans.compiled import rules_of
from metering.surfaces.portal import invoices
from metering.surfaces.portal.invoice_pdf import PrintedInvoice, PrintedLine
from metering.surfaces.portal.line_words import LineWords, describe

STATUS_WORDS = {
    InvoiceStatus.ISSUED.value: "Open",
    InvoiceStatus.PAID.value: "Paid",
    InvoiceStatus.PAYMENT_FAILED.value: "Payment failed",
    InvoiceStatus.VOID.value: "Void",
}


def address_lines(customer: Customer) -> list[str]:
    address = customer.address or {}
    city = " ".join(p for p in (address.get("postal_code"), address.get("city")) if p)
    parts = [address.get("line1"), address.get("line2"), city, address.get("state")]
    parts.append(address.get("country"))
    return [part for part in parts if part]


def tax_id_lines(customer: Customer) -> list[str]:
    """`EU VAT DE123456789` for each of the customer's tax ids."""
    return [
        f"{t.get('type', '').replace('_', ' ').upper()} {t.get('value', '')}"
        for t in customer.tax_ids or []
    ]


def status_text(session: Session, invoice: Invoice) -> str:
    """The status in words; a failed payment says why (the payment link's decline)."""
    words = STATUS_WORDS.get(invoice.status, invoice.status)
    if invoice.status != InvoiceStatus.PAYMENT_FAILED.value:
        return words
    link = links.of_invoices(session, [invoice.id]).get(invoice.id)
    return f"{words}: {payment_error(link)['message']}" if link is not None else words


def failure_reasons(session: Session, shown: Sequence[Invoice]) -> dict[str, str]:
    """Invoice id -> why its payment failed, for the failed ones among `shown` (one query)."""
    failed = [i.id for i in shown if i.status == InvoiceStatus.PAYMENT_FAILED.value]
    return {
        invoice_id: payment_error(link)["message"]
        for invoice_id, link in links.of_invoices(session, failed).items()
    }


def line_words(
    session: Session, invoice: Invoice, views: list[invoices.LineView], customer: Customer
) -> list[LineWords]:
    """Each line of the invoice in plain words (`line_words.describe`), in order."""
    fmt = invoices.formatter_of(session, invoice, customer.locale)
    rules = rules_of(session, invoice.plan_version_id)
    return [
        describe(
            rules,
            kind=view.line.kind,
            charge_key=view.line.charge_key,
            outcome=view.line.outcome,
            quantity=view.line.quantity,
            detail=view.line.detail if isinstance(view.line.detail, dict) else {},
            fmt=fmt,
        )
        for view in views
    ]


def printed(
    session: Session, invoice: Invoice, customer: Customer, vendor_name: str
) -> PrintedInvoice:
    fmt = invoices.formatter_of(session, invoice, customer.locale)
    views = invoices.lines(session, invoice)
    lines = []
    for view, said in zip(views, line_words(session, invoice, views, customer), strict=True):
        line = view.line
        name = (
            said.name if line.kind in ("charge", "minimum", "maximum") else ""
        ) or line.description
        quantity = fmt.number(line.quantity) if line.quantity is not None else ""
        lines.append(PrintedLine(name, said.text, quantity, fmt.money(line.amount)))
    taxed = invoices.taxes(session, [invoice])[invoice.id]
    totals = []
    if taxed.tax is not None:
        totals.append(("Subtotal", fmt.money(invoice.total)))
        for tax in taxed.lines:
            rate = f" ({tax['rate']}%)" if tax.get("rate") else ""
            totals.append((f"{tax.get('description', 'Tax')}{rate}", fmt.money(tax["amount"])))
        if not taxed.lines:
            totals.append(("Tax", fmt.money(taxed.tax)))
    total = taxed.owed if taxed.tax is not None else Decimal(invoice.total)
    totals.append(("Total", fmt.money(total)))
    if invoice.status in invoices.OPEN:
        paid = received.amounts_paid(session, [invoice.id]).get(invoice.id, Decimal(0))
        if paid:
            totals.append(("Paid", fmt.money(paid)))
        totals.append(("Amount due", fmt.money(max(taxed.owed - paid, Decimal(0)))))
    facts = [("Period", fmt.period(invoice.period_start, invoice.period_end))]
    if invoice.issued_at:
        facts.append(("Issued", fmt.date(invoice.issued_at)))
    if invoice.due_at:
        facts.append(("Due", fmt.date(invoice.due_at)))
    if invoice.paid_at:
        facts.append(("Paid", fmt.date(invoice.paid_at)))
    facts.append(("Status", status_text(session, invoice)))
    number = f"Invoice #{invoice.number}" if invoice.number is not None else "Invoice"
    return PrintedInvoice(
        vendor=vendor_name,
        title=number,
        customer=customer.name or customer.external_id,
        address=address_lines(customer),
        tax_ids=[
            f"{t.get('type', '').replace('_', ' ').upper()} {t.get('value', '')}"
            for t in customer.tax_ids or []
        ],
        facts=facts,
        lines=lines,
        totals=totals,
        notes=[f"Amounts in {invoice.currency.upper()}."],
    )
