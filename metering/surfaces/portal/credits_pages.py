"""`/portal/credits`: the customer's prepaid credits, and buying more when the vendor allows
(`/v1/vendor/portal_credit_purchases`)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlmodel import Session

from metering.billing.credit_purchases import portal_offer
from metering.billing.credit_purchases.service import providers_of
from metering.platform.api.clock import request_now
from metering.platform.api.deps import app_settings
from metering.platform.api.problems import ProblemError
from metering.platform.db.session import get_session
from metering.platform.settings import Settings
from metering.surfaces.portal import credits
from metering.surfaces.portal.auth import (
    PortalContext,
    check_csrf,
    portal_context,
    render_page,
)
from metering.surfaces.portal.errors import PortalPageError

router = APIRouter(prefix="/portal/credits", include_in_schema=False)

STATUS_LABELS = {"active": "Active", "pending_payment": "Awaiting payment", "voided": "Voided"}
KIND_LABELS = {
    "grant": "Granted",
    "drawdown": "Used on an invoice",
    "expiry": "Expired",
    "void": "Voided",
    "restore": "Given back",
    "manual_adjustment": "Adjusted",
}


def _credits_page(
    request: Request,
    portal: PortalContext,
    session: Session,
    now: datetime,
    *,
    error: str | None = None,
    amount: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    page = credits.build(session, portal.vendor, portal.customer, now)
    return render_page(
        request,
        portal,
        "portal/credits.html",
        {
            "page": page,
            "status_labels": STATUS_LABELS,
            "kind_labels": KIND_LABELS,
            "error": error,
            "amount": amount,
        },
        status_code=status_code,
    )


@router.get("", response_class=HTMLResponse, name="portal_credits")
def credits_page(
    request: Request,
    portal: PortalContext = Depends(portal_context),
    session: Session = Depends(get_session),
    now: datetime = Depends(request_now),
) -> HTMLResponse:
    return _credits_page(request, portal, session, now)


@router.post("/buy", response_model=None)
def buy_credits(
    request: Request,
    csrf_token: str = Form(""),
    amount: str = Form(""),
    currency: str = Form(""),
    portal: PortalContext = Depends(portal_context),
    session: Session = Depends(get_session),
    settings: Settings = Depends(app_settings),
    now: datetime = Depends(request_now),
) -> HTMLResponse | RedirectResponse:
    """Issue the purchase invoice of the amount the customer picked (within what the vendor
    allows) and take the customer to it, where its Pay button opens the provider's page."""
    check_csrf(portal, csrf_token)
    if not portal_offer.offered(session, portal.vendor, portal.customer):
        raise PortalPageError(
            409,
            "Credits cannot be bought here",
            "Your vendor does not sell credits in the portal. Contact your vendor to buy some.",
            portal=portal,
        )
    try:
        bought = portal_offer.buy(
            session,
            portal.vendor,
            portal.customer,
            amount,
            currency,
            providers_of(settings),
            now,
        )
    except ProblemError as refused:
        session.rollback()
        return _credits_page(
            request,
            portal,
            session,
            now,
            error=_sentence(refused.detail or ""),
            amount=amount,
            status_code=refused.status,
        )
    session.commit()
    return RedirectResponse(f"/portal/invoices/{bought.purchase_invoice_id}", status_code=303)


def _sentence(detail: str) -> str:
    """A problem's detail ("amount: must be ...") as the form says it ("Amount: must ...")."""
    text = detail.rstrip(".")
    return (text[:1].upper() + text[1:] + ".") if text else "These credits cannot be bought."
