"""`/vendor/invoices`: the vendor's invoices, failed payments first, filtered by status; void
and retry payment, each after a confirmation page, through the services of
`POST /v1/invoices/{id}/void` and `POST /v1/invoices/{id}/retry_sync`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session, col

from metering.billing.invoices import repository, service
from metering.billing.invoices.models import Invoice, InvoiceStatus
from metering.platform.api.problems import ProblemError
from metering.platform.db.session import get_session
from metering.platform.db.types import utcnow
from metering.platform.web.templating import render
from metering.surfaces.vendor_web import console
from metering.surfaces.vendor_web.auth import VendorContext, vendor_context

router = APIRouter(include_in_schema=False)
LIST = "/vendor/invoices"
STATUS_LABELS = {
    InvoiceStatus.DRAFT.value: "Draft",
    InvoiceStatus.ISSUED.value: "Open",
    InvoiceStatus.PAID.value: "Paid",
    InvoiceStatus.PAYMENT_FAILED.value: "Payment failed",
    InvoiceStatus.VOID.value: "Void",
}


OPEN = (InvoiceStatus.DRAFT.value, InvoiceStatus.ISSUED.value, InvoiceStatus.PAYMENT_FAILED.value)


@dataclass(frozen=True, slots=True)
class Action:
    """A change the page offers on an invoice, confirmed first, done by the API's service."""

    title: str
    explain: str
    done: str
    allowed: tuple[str, ...]
    change: Callable[[Session, Invoice, datetime], object]


ACTIONS = {
    "void": Action(
        title="Void",
        explain="The invoice will no longer be owed; its payment provider voids it too, and "
        "the periods it corrected are billed again on the customer's next invoice. This "
        "cannot be undone.",
        done="was voided",
        allowed=OPEN,
        change=service.void,
    ),
    "retry": Action(
        title="Retry payment",
        explain="The customer's payment method is charged again now (a new attempt); if it "
        "fails, the retry schedule goes on.",
        done="will be charged again in a moment",
        allowed=(InvoiceStatus.PAYMENT_FAILED.value,),
        change=service.retry_sync,
    ),
}


def invoice_label(invoice: Any) -> str:
    return f"#{invoice.number}" if invoice.number else str(invoice.id)


@router.get(LIST, response_class=HTMLResponse)
def invoices_page(
    request: Request,
    status: str = Query(""),
    cursor: str | None = Query(None),
    done: str = Query(""),
    invoice: str = Query(""),
    context: VendorContext = Depends(vendor_context),
    session: Session = Depends(get_session),
) -> HTMLResponse:
    """Every status, failed payments first, newest first; or one status."""
    chosen = status if status in STATUS_LABELS else None
    statement = repository.listing(context.vendor.id, None, chosen)
    try:
        rows, next_cursor = console.first_then_newest(
            session,
            statement,
            col(Invoice.status),
            InvoiceStatus.PAYMENT_FAILED.value,
            col(Invoice.id),
            cursor or None,
        )
    except ProblemError as error:
        return console.problem_page(request, context, error, LIST)
    notice = None
    if done in ACTIONS and invoice:
        try:
            changed = service.get_or_404(session, context.vendor, invoice)
            notice = f"Invoice {invoice_label(changed)} {ACTIONS[done].done}."
        except ProblemError:
            notice = None
    shown = service.invoices_out(session, rows)
    names = repository.external_ids(session, {row.customer_id for row in rows})
    return render(
        request,
        "vendor/invoices.html",
        console.values(
            context,
            "invoices",
            invoices=shown,
            customers=names,
            labels=STATUS_LABELS,
            status=chosen or "",
            actions=ACTIONS,
            notice=notice,
            next_cursor=next_cursor,
            first_page=cursor is None,
            label=invoice_label,
        ),
    )


def _confirm(
    request: Request,
    context: VendorContext,
    session: Session,
    invoice: Invoice,
    name: str,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    (shown,) = service.invoices_out(session, [invoice])
    names = repository.external_ids(session, [invoice.customer_id])
    return render(
        request,
        "vendor/invoice_confirm.html",
        console.values(
            context,
            "invoices",
            invoice=shown,
            customer=names.get(invoice.customer_id, invoice.customer_id),
            action=ACTIONS[name],
            action_name=name,
            labels=STATUS_LABELS,
            label=invoice_label,
            error=error,
        ),
        status_code=status_code,
    )


def _not_offered(name: str, invoice: Invoice) -> str:
    return (
        f"{ACTIONS[name].title} is not possible: invoice {invoice_label(invoice)} is "
        f"{STATUS_LABELS.get(invoice.status, invoice.status).lower()}."
    )


@router.get(LIST + "/{invoice_id}/{name}", response_class=HTMLResponse)
def confirm_page(
    request: Request,
    invoice_id: str,
    name: str,
    context: VendorContext = Depends(vendor_context),
    session: Session = Depends(get_session),
) -> HTMLResponse:
    """Ask before acting: what the action does to this invoice."""
    if name not in ACTIONS:
        return console.message_page(request, context, "Not Found", "No such page.", 404, LIST)
    try:
        invoice = service.get_or_404(session, context.vendor, invoice_id)
    except ProblemError as error:
        return console.problem_page(request, context, error, LIST)
    if invoice.status not in ACTIONS[name].allowed:
        return _confirm(request, context, session, invoice, name, _not_offered(name, invoice), 409)
    return _confirm(request, context, session, invoice, name)


@router.post(LIST + "/{invoice_id}/{name}", response_model=None)
def act(
    request: Request,
    invoice_id: str,
    name: str,
    csrf_token: str = Form(""),
    context: VendorContext = Depends(vendor_context),
    session: Session = Depends(get_session),
) -> Response:
    """Do the confirmed action, then back to the list saying what was done."""
    if name not in ACTIONS:
        return console.message_page(request, context, "Not Found", "No such page.", 404, LIST)
    try:
        console.check_csrf(context, csrf_token)
        invoice = service.get_or_404(session, context.vendor, invoice_id)
    except ProblemError as error:
        return console.problem_page(request, context, error, LIST)
    action = ACTIONS[name]
    if invoice.status not in action.allowed:
        return _confirm(request, context, session, invoice, name, _not_offered(name, invoice), 409)
    try:
        action.change(session, invoice, utcnow())
    except ProblemError as error:
        session.rollback()
        return _confirm(request, context, session, invoice, name, error.detail, error.status)
    session.commit()
    return RedirectResponse(f"{LIST}?done={name}&invoice={invoice.id}", status_code=303)
