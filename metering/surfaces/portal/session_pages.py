"""Opening a sign-in link (sets the session cookie) and logging out."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from metering.catalog.vendors.models import Vendor
from metering.platform.db.session import get_session
from metering.platform.db.types import utcnow
from metering.platform.settings import Settings
from metering.platform.web.templating import render
from metering.surfaces.portal import repository, service
from metering.surfaces.portal.auth import (
    COOKIE_NAME,
    PortalContext,
    check_csrf,
    cookie_value,
    portal_context,
)
from metering.surfaces.portal.branding import branding_of
from metering.surfaces.portal.errors import PortalPageError

router = APIRouter(prefix="/portal", include_in_schema=False)


@router.get("/session/{token}")
def open_session(token: str, request: Request, session: Session = Depends(get_session)) -> Response:
    """Use the link once, set the 12-hour cookie, and go to the overview."""
    settings: Settings = request.app.state.settings
    try:
        row = service.open_link(session, token, utcnow())
    except PortalPageError as refused:
        known = repository.by_token(session, token)
        vendor = session.get(Vendor, known.vendor_id) if known is not None else None
        if known is not None and vendor is not None:
            refused.branding = branding_of(vendor, settings)
            refused.return_url = known.return_url
        raise
    session.commit()
    response = RedirectResponse("/portal", status_code=303)
    response.set_cookie(
        COOKIE_NAME,
        cookie_value(request, row.id, secrets.token_urlsafe(24)),
        max_age=int(settings.portal_session_lifetime.total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@router.post("/logout")
def logout(
    request: Request,
    csrf_token: str = Form(""),
    portal: PortalContext = Depends(portal_context),
    session: Session = Depends(get_session),
) -> HTMLResponse:
    """End the session on the server (the cookie stops working everywhere) and clear it."""
    check_csrf(portal, csrf_token)
    service.end_session(session, portal.session_id, utcnow())
    session.commit()
    response = render(
        request,
        "portal/signed_out.html",
        {"branding": portal.branding, "return_url": portal.return_url},
    )
    response.delete_cookie(COOKIE_NAME, path="/")
    return response
