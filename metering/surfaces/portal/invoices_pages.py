"""`/portal/invoices`: the customer's invoices, and one invoice with its lines (printable)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from metering.platform.api.problems import ProblemError
from metering.platform.db.session import get_session
from metering.surfaces.portal import invoice_pdf, invoice_print, invoices
from metering.surfaces.portal.auth import PortalContext, portal_context, render_page
from metering.surfaces.portal.errors import PortalPageError, not_found_page

router = APIRouter(prefix="/portal/invoices", include_in_schema=False)

STATUS_LABELS = {
    "issued": "Issued",
    "paid": "Paid",
    "payment_failed": "Payment failed",
    "void": "Void",
    "draft": "Draft",
}


@router.get("", response_class=HTMLResponse)
def invoice_list(
    request: Request,
    cursor: str | None = Query(None, max_length=200),
    portal: PortalContext = Depends(portal_context),
    session: Session = Depends(get_session),
) -> HTMLResponse:
    try:
        rows, next_cursor = invoices.listing(session, portal.customer.id, cursor)
    except ProblemError:
        raise PortalPageError(
            400,
            "This page of invoices does not exist",
            "The address has a page marker this list did not make. Start again from the first "
            "page of your invoices.",
            portal=portal,
        ) from None
    shown = [(row, invoices.formatter_of(session, row, portal.customer.locale)) for row in rows]
    return render_page(
        request,
        portal,
        "portal/invoices.html",
        {
            "invoices": shown,
            "pay_urls": invoices.hosted_urls(session, rows),
            "taxed": invoices.taxes(session, rows),
            "failures": invoice_print.failure_reasons(session, rows),
            "open": invoices.OPEN,
            "next_cursor": next_cursor,
            "first_page": cursor is None,
            "labels": STATUS_LABELS,
        },
    )


@router.get("/{invoice_id}", response_class=HTMLResponse)
def invoice_page(
    invoice_id: str,
    request: Request,
    portal: PortalContext = Depends(portal_context),
    session: Session = Depends(get_session),
) -> HTMLResponse:
    invoice = invoices.of_customer(session, portal.customer.id, invoice_id)
    if invoice is None:
        raise not_found_page("invoice", portal)
    shown_lines = invoices.lines(session, invoice)
    return render_page(
        request,
        portal,
        "portal/invoice.html",
        {
            "invoice": invoice,
            "hosted_url": invoices.hosted_url(session, invoice),
            "taxed": invoices.taxes(session, [invoice])[invoice.id],
            "open": invoices.OPEN,
            "lines": shown_lines,
            "words": invoice_print.line_words(session, invoice, shown_lines, portal.customer),
            "ifmt": invoices.formatter_of(session, invoice, portal.customer.locale),
            "labels": STATUS_LABELS,
            "status_text": invoice_print.status_text(session, invoice),
        },
    )


@router.get("/{invoice_id}/pdf")
def invoice_as_pdf(
    invoice_id: str,
    portal: PortalContext = Depends(portal_context),
    session: Session = Depends(get_session),
) -> Response:
    """The invoice as printed, as a PDF file (rendered here, never fetched from elsewhere)."""
    invoice = invoices.of_customer(session, portal.customer.id, invoice_id)
    if invoice is None:
        raise not_found_page("invoice", portal)
    printed = invoice_print.printed(session, invoice, portal.customer, portal.branding.name)
    return invoice_pdf.download(printed, invoice.number, invoice.id)
