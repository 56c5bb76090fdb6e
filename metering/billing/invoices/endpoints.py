"""`/v1/invoices`: the calling vendor's invoices, their lines and the outcomes behind them;
`/v1/customers/{id}/upcoming_invoice`: the current period priced as of now."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from fastapi import APIRouter, Depends, Query, Response
from sqlmodel import Session, col

from metering.billing.invoices import repository, service
from metering.billing.invoices.models import Invoice, InvoiceStatus
from metering.billing.invoices.schemas import (
    InvoiceDetail,
    InvoiceOut,
    LineOutcomeOut,
    PaymentRecorded,
    UpcomingInvoice,
)
from metering.billing.payments import received
from metering.billing.payments.models import InvoicePayment
from metering.billing.payments.schemas import PaymentCreate, PaymentOut
from metering.catalog.customers import service as customers
from metering.catalog.vendors.auth import API_KEY_PROBLEMS, current_vendor
from metering.catalog.vendors.models import Vendor
from metering.platform.api import problems
from metering.platform.api.pagination import Cursor, Limit, Page, paginate
from metering.platform.api.problem_docs import problem_responses
from metering.platform.db.session import get_session
from metering.platform.db.types import utcnow

router = APIRouter(tags=["invoices"], responses=problem_responses(*API_KEY_PROBLEMS))


@router.get(
    "/v1/invoices",
    response_model=Page[InvoiceOut],
    summary="List invoices",
    responses=problem_responses(
        problems.INVALID_CURSOR, problems.INVALID_REQUEST, problems.NOT_FOUND
    ),
)
def list_invoices(
    cursor: Cursor = None,
    limit: Limit = 100,
    customer: str | None = Query(
        None, description="Only this customer's: our id (cus_...) or yours."
    ),
    status: InvoiceStatus | None = Query(None, description="Only invoices in this status."),
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> Page[InvoiceOut]:
    """Oldest first, a page at a time; an unknown customer is a 404."""
    customer_id = None
    if customer is not None:
        customer_id = customers.by_reference_or_404(session, vendor, customer).id
    statement = repository.listing(vendor.id, customer_id, status.value if status else None)
    rows, next_cursor = paginate(session, statement, col(Invoice.id), cursor, limit)
    return Page[InvoiceOut](data=service.invoices_out(session, rows), next_cursor=next_cursor)


@router.get(
    "/v1/invoices/{invoice_id}",
    response_model=InvoiceDetail,
    summary="Get an invoice with its lines",
    responses=problem_responses(problems.NOT_FOUND),
)
def get_invoice(
    invoice_id: str,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> InvoiceDetail:
    """Each line says what it prices (`kind`, `charge_key`, the period) and how many outcome
    rows are behind it; credit and adjustment lines name the invoice they correct."""
    return service.invoice_detail(session, service.get_or_404(session, vendor, invoice_id))


@router.get(
    "/v1/invoices/{invoice_id}/lines/{line_id}/outcomes",
    response_model=Page[LineOutcomeOut],
    summary="List the outcomes behind a line",
    responses=problem_responses(problems.INVALID_CURSOR, problems.NOT_FOUND),
)
def list_line_outcomes(
    invoice_id: str,
    line_id: str,
    cursor: Cursor = None,
    limit: Limit = 100,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> Page[LineOutcomeOut]:
    """The outcome rows a line counted (a credit: the ones it took back), with their events."""
    invoice = service.get_or_404(session, vendor, invoice_id)
    line = service.line_or_404(session, invoice, line_id)
    data, next_cursor = service.line_outcomes(session, line, cursor, limit)
    return Page[LineOutcomeOut](data=data, next_cursor=next_cursor)


def _change(
    session: Session,
    vendor: Vendor,
    invoice_id: str,
    change: Callable[[Session, Invoice, datetime], object],
) -> InvoiceDetail:
    """Apply `change` to the vendor's invoice, commit, and show the invoice as it is now."""
    invoice = service.get_or_404(session, vendor, invoice_id)
    change(session, invoice, utcnow())
    session.commit()
    return service.invoice_detail(session, invoice)


@router.post(
    "/v1/invoices/{invoice_id}/void",
    response_model=InvoiceDetail,
    summary="Void an invoice",
    responses=problem_responses(problems.NOT_FOUND, problems.INVOICE_PAID),
)
def void_invoice(
    invoice_id: str,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> InvoiceDetail:
    """Issued, failed or draft invoices become `void` (voiding again changes nothing); the
    Stripe sync voids it in Stripe too. A paid invoice is a 409. Payments recorded for it
    stay recorded (`amount_paid`): settle them with the customer."""
    return _change(session, vendor, invoice_id, service.void)


@router.post(
    "/v1/invoices/{invoice_id}/retry_sync",
    response_model=InvoiceDetail,
    summary="Retry the Stripe sync of an invoice",
    responses=problem_responses(problems.NOT_FOUND, problems.NOTHING_TO_RETRY),
)
def retry_invoice_sync(
    invoice_id: str,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> InvoiceDetail:
    """After a permanent Stripe error is fixed (or a declined card updated): sync it now. A
    failed payment is tried again as a new request; the retry schedule goes on if it fails."""
    return _change(session, vendor, invoice_id, service.retry_sync)


@router.post(
    "/v1/invoices/{invoice_id}/payments",
    response_model=PaymentRecorded,
    status_code=201,
    summary="Record a payment received outside the provider",
    responses={
        200: {
            "model": PaymentRecorded,
            "description": "This reference was recorded before with the same amount, date "
            "and method: that payment, not a second one.",
        },
        **problem_responses(
            problems.NOT_FOUND,
            problems.INVOICE_NOT_PAYABLE,
            problems.INVALID_PAYMENT,
            problems.PAYMENT_REFERENCE_CONFLICT,
            problems.INVALID_REQUEST,
        ),
    },
)
def record_payment(
    invoice_id: str,
    data: PaymentCreate,
    response: Response,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> PaymentRecorded:
    """A bank transfer, a cheque: money for an issued or payment_failed invoice that did not
    come through its payment provider. The amount is in the invoice's currency, above zero
    and at most `amount_due`; payments may be partial. Once they cover the total the invoice
    is `paid` (and its provider marks its own copy paid: Stripe, paid out of band); until
    then the provider does not charge it. The `reference` names the payment: sending it
    again answers 200 with the payment recorded first (with another amount, date or method,
    409)."""
    invoice = service.get_or_404(session, vendor, invoice_id)
    recorded = service.record_payment(session, invoice, data, utcnow())
    session.commit()
    if not recorded.created:
        response.status_code = 200
    (shown,) = service.invoices_out(session, [invoice])
    return PaymentRecorded(payment=received.payment_out(recorded.payment), invoice=shown)


@router.get(
    "/v1/invoices/{invoice_id}/payments",
    response_model=Page[PaymentOut],
    summary="List the payments recorded for an invoice",
    responses=problem_responses(
        problems.INVALID_CURSOR, problems.NOT_FOUND, problems.INVALID_REQUEST
    ),
)
def list_payments(
    invoice_id: str,
    cursor: Cursor = None,
    limit: Limit = 100,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> Page[PaymentOut]:
    """Payments received outside the provider, oldest first (also in the invoice's
    `payments`)."""
    invoice = service.get_or_404(session, vendor, invoice_id)
    statement = received.listing(invoice.id)
    rows, next_cursor = paginate(session, statement, col(InvoicePayment.id), cursor, limit)
    return Page[PaymentOut](
        data=[received.payment_out(row) for row in rows], next_cursor=next_cursor
    )


@router.get(
    "/v1/customers/{customer_id}/upcoming_invoice",
    response_model=UpcomingInvoice,
    summary="Get the upcoming invoice of a customer",
    tags=["customers"],
    responses=problem_responses(problems.NOT_FOUND, problems.NO_SUBSCRIPTION),
)
def get_upcoming_invoice(
    customer_id: str,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> UpcomingInvoice:
    """The period containing now under the plan in force now, priced as of now: its lines
    (tiers in `detail`), outcomes still pending apart, and the corrections of earlier
    periods the next close would add. Nothing is written."""
    customer = customers.get_or_404(session, vendor, customer_id)
    return service.upcoming(session, customer, utcnow())
