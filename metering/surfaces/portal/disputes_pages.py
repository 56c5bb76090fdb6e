"""`/portal/disputes`: the customer's disputes, their status and the vendor's answer."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from metering.ledger.disputes import repository
from metering.platform.db.session import get_session
from metering.surfaces.portal.auth import PortalContext, portal_context, render_page

router = APIRouter(prefix="/portal", include_in_schema=False)


@router.get("/disputes", response_class=HTMLResponse)
def list_disputes(
    request: Request,
    filed: str | None = None,
    portal: PortalContext = Depends(portal_context),
    session: Session = Depends(get_session),
) -> HTMLResponse:
    """Newest first; kept for good, whatever the answer."""
    return render_page(
        request,
        portal,
        "portal/disputes.html",
        {"disputes": repository.of_customer(session, portal.customer.id), "filed": bool(filed)},
    )
