"""`/portal/disputes`: the customer's disputes, their status, what an open one has at stake,
the vendor's answer, and withdrawing an open dispute (a form with the session's CSRF token)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlmodel import Session

from metering.ledger.disputes import repository
from metering.ledger.disputes import service as disputes
from metering.platform.api.clock import request_now
from metering.platform.api.problems import ProblemError
from metering.platform.db.session import get_session
from metering.surfaces.portal.auth import (
    PortalContext,
    check_csrf,
    portal_context,
    render_page,
)
from metering.surfaces.portal.disputes_context import at_stake
from metering.surfaces.portal.errors import PortalPageError, not_found_page

router = APIRouter(prefix="/portal", include_in_schema=False)


@router.get("/disputes", response_class=HTMLResponse)
def list_disputes(
    request: Request,
    filed: str | None = None,
    withdrawn: str | None = None,
    portal: PortalContext = Depends(portal_context),
    session: Session = Depends(get_session),
) -> HTMLResponse:
    """Newest first; kept for good, whatever the answer."""
    rows = repository.of_customer(session, portal.customer.id)
    return render_page(
        request,
        portal,
        "portal/disputes.html",
        {
            "disputes": rows,
            "at_stake": at_stake(session, rows),
            "filed": bool(filed),
            "withdrawn": bool(withdrawn),
        },
    )


@router.post("/disputes/{dispute_id}/withdraw", response_model=None)
def withdraw_dispute(
    dispute_id: str,
    csrf_token: str = Form(""),
    portal: PortalContext = Depends(portal_context),
    session: Session = Depends(get_session),
    now: datetime = Depends(request_now),
) -> RedirectResponse:
    """Withdraw an open dispute through the disputes service; a closed one is a page saying so."""
    check_csrf(portal, csrf_token)
    try:
        disputes.withdraw(session, portal.customer, dispute_id, now)
    except ProblemError as problem:
        if problem.status == 404:
            raise not_found_page("dispute", portal) from None
        raise PortalPageError(
            problem.status, "This dispute is closed", problem.detail or "", portal=portal
        ) from None
    session.commit()
    return RedirectResponse("/portal/disputes?withdrawn=1", status_code=303)
