"""`/portal`: the current period so far."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from metering.portal.auth import PortalContext, portal_context, render_page

router = APIRouter(prefix="/portal", include_in_schema=False)


@router.get("", response_class=HTMLResponse)
def overview(request: Request, portal: PortalContext = Depends(portal_context)) -> HTMLResponse:
    return render_page(request, portal, "portal/overview.html", {})
