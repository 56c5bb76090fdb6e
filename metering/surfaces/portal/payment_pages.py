"""`/portal/payment`: the payment method on file, the button that opens the provider's page
to add or replace it, and the invoices still to pay (with their provider's "Pay" page)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlmodel import Session

from metering.platform.api.deps import app_settings
from metering.platform.api.problems import ProblemError
from metering.platform.db.session import get_session
from metering.platform.settings import Settings
from metering.surfaces.payment_methods import service
from metering.surfaces.portal import invoices
from metering.surfaces.portal.auth import PortalContext, check_csrf, portal_context, render_page
from metering.surfaces.portal.errors import PortalPageError

router = APIRouter(prefix="/portal/payment", include_in_schema=False)

UNREACHABLE = "We could not reach {provider} just now. Try again in a few minutes."


@router.get("", response_class=HTMLResponse, name="portal_payment")
def payment_page(
    request: Request,
    portal: PortalContext = Depends(portal_context),
    session: Session = Depends(get_session),
    settings: Settings = Depends(app_settings),
) -> HTMLResponse:
    method, kept, unreachable = None, True, None
    try:
        method = service.current(session, settings, portal.customer)
    except service.MethodsNotKept:
        kept = False
    except ProblemError:  # the provider did not answer: say so, show the rest
        unreachable = UNREACHABLE.format(provider=portal.customer.payment_provider.capitalize())
    return render_page(
        request,
        portal,
        "portal/payment.html",
        {
            "method": method,
            "kept": kept,
            "unreachable": unreachable,
            "open_invoices": invoices.open_invoices(session, portal.customer.id),
            "updated": request.query_params.get("updated") is not None,
        },
    )


@router.post("/setup", response_model=None)
def open_setup(
    request: Request,
    csrf_token: str = Form(""),
    portal: PortalContext = Depends(portal_context),
    session: Session = Depends(get_session),
    settings: Settings = Depends(app_settings),
) -> RedirectResponse:
    """To the provider's page (Stripe Checkout, setup mode), which returns here."""
    check_csrf(portal, csrf_token)
    back = str(request.url_for("portal_payment")) + "?updated"
    try:
        made = service.setup_session(session, settings, portal.customer, back)
    except ProblemError as problem:
        raise PortalPageError(
            problem.status,
            "Your payment method cannot be changed here",
            UNREACHABLE.format(provider=portal.customer.payment_provider.capitalize())
            if problem.status >= 500
            else "Your invoices are not charged to a payment method: your vendor collects "
            "them. Contact your vendor to pay.",
            portal=portal,
        ) from None
    return RedirectResponse(made.url, status_code=303)
