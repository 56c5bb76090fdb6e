"""`/portal/credits`: the customer's prepaid credits, and buying more when the vendor allows."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlmodel import Session

from metering.billing.credit_purchases.service import providers_of
from metering.platform.api.deps import app_settings
from metering.platform.api.problems import ProblemError
from metering.platform.db.session import get_session
from metering.platform.settings import Settings
from metering.surfaces.portal import credits
from metering.surfaces.portal.auth import (
    PortalContext,
    check_csrf,
    portal_context,
    portal_now,
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


@router.get("", response_class=HTMLResponse, name="portal_credits")
def credits_page(
    request: Request,
    portal: PortalContext = Depends(portal_context),
    session: Session = Depends(get_session),
    now: datetime = Depends(portal_now),
) -> HTMLResponse:
    page = credits.build(session, portal.customer, now)
    return render_page(
        request,
        portal,
        "portal/credits.html",
        {
            "page": page,
            "status_labels": STATUS_LABELS,
            "kind_labels": KIND_LABELS,
            "bought": request.query_params.get("bought"),
        },
    )


@router.post("/buy", response_model=None)
def buy_credits(
    csrf_token: str = Form(""),
    portal: PortalContext = Depends(portal_context),
    session: Session = Depends(get_session),
    settings: Settings = Depends(app_settings),
    now: datetime = Depends(portal_now),
) -> RedirectResponse:
    """Issue the purchase invoice of the vendor's pack and take the customer to pay it."""
    check_csrf(portal, csrf_token)
    try:
        bought = credits.buy(session, portal.customer, providers_of(settings), now)
    except ProblemError:
        bought = None
    if bought is None:
        raise PortalPageError(
            409,
            "Credits cannot be bought here",
            "Your vendor does not sell credits in the portal. Contact your vendor to buy some.",
            portal=portal,
        )
    session.commit()
    return RedirectResponse(f"/portal/invoices/{bought.purchase_invoice_id}", status_code=303)
