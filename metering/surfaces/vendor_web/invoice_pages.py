"""`/vendor/invoices/{id}`: one invoice as the vendor reads it (its lines, tax and totals as
printed, the status with why a payment failed, the payments recorded and the provider's
attempts), its PDF, and the void and retry actions of the invoices list (the same
confirmation pages). Read through the API's services (`GET /v1/invoices/{id}`); another
vendor's invoice is a 404, as there.

Its router comes before the list's, whose confirmation pages take `/{id}/{action}`.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from metering.billing.invoices import service
from metering.billing.invoices.models import Invoice
from metering.billing.payments import links
from metering.catalog.customers.models import Customer
from metering.platform.api.deps import app_settings
from metering.platform.api.problems import ProblemError
from metering.platform.db.session import get_session
from metering.platform.settings import Settings
from metering.platform.web.templating import render
from metering.surfaces.portal import invoice_pdf, invoice_print
from metering.surfaces.portal.branding import branding_of
from metering.surfaces.vendor_web import console
from metering.surfaces.vendor_web.auth import VendorContext, vendor_context
from metering.surfaces.vendor_web.invoices_pages import ACTIONS, LIST, STATUS_LABELS, invoice_label

router = APIRouter(include_in_schema=False)


def _found(
    request: Request, context: VendorContext, session: Session, invoice_id: str
) -> tuple[Invoice, Customer] | HTMLResponse:
    try:
        invoice = service.get_or_404(session, context.vendor, invoice_id)
    except ProblemError as error:
        return console.problem_page(request, context, error, LIST)
    customer = session.get(Customer, invoice.customer_id)
    assert customer is not None  # an invoice's customer is never deleted
    return invoice, customer


@router.get(LIST + "/{invoice_id}", response_class=HTMLResponse)
def invoice_page(
    request: Request,
    invoice_id: str,
    context: VendorContext = Depends(vendor_context),
    session: Session = Depends(get_session),
    settings: Settings = Depends(app_settings),
) -> HTMLResponse:
    found = _found(request, context, session, invoice_id)
    if isinstance(found, HTMLResponse):
        return found
    invoice, customer = found
    vendor_name = branding_of(context.vendor, settings).name
    return render(
        request,
        "vendor/invoice.html",
        console.values(
            context,
            "invoices",
            invoice=service.invoice_detail(session, invoice),
            printed=invoice_print.printed(session, invoice, customer, vendor_name),
            link=links.of_invoices(session, [invoice.id]).get(invoice.id),
            customer=customer,
            actions=ACTIONS,
            labels=STATUS_LABELS,
            label=invoice_label,
        ),
    )


@router.get(LIST + "/{invoice_id}/pdf", response_model=None)
def invoice_as_pdf(
    request: Request,
    invoice_id: str,
    context: VendorContext = Depends(vendor_context),
    session: Session = Depends(get_session),
    settings: Settings = Depends(app_settings),
) -> Response:
    """The PDF the customer downloads from the portal (the same print, rendered here)."""
    found = _found(request, context, session, invoice_id)
    if isinstance(found, HTMLResponse):
        return found
    invoice, customer = found
    printed = invoice_print.printed(
        session, invoice, customer, branding_of(context.vendor, settings).name
    )
    return invoice_pdf.download(printed, invoice.number, invoice.id)
