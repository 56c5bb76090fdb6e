"""Vendor API of the portal: sign-in links for customers, and the portal's branding."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from sqlmodel import Session

from metering.catalog.customers import service as customers
from metering.catalog.vendors.auth import API_KEY_PROBLEMS, current_vendor
from metering.catalog.vendors.models import Vendor
from metering.platform.api import problems
from metering.platform.api.deps import app_settings
from metering.platform.api.problem_docs import problem_responses
from metering.platform.db.session import get_session
from metering.platform.db.types import utcnow
from metering.platform.settings import Settings
from metering.surfaces.portal import service
from metering.surfaces.portal.branding import branding_of
from metering.surfaces.portal.schemas import (
    PortalBrandingOut,
    PortalBrandingUpdate,
    PortalSessionCreate,
    PortalSessionOut,
)

router = APIRouter(tags=["portal"], responses=problem_responses(*API_KEY_PROBLEMS))


def portal_base(request: Request, settings: Settings) -> str:
    """Where links point: METERING_PORTAL_BASE_URL, else the address this API was called at."""
    return (settings.portal_base_url or str(request.base_url)).rstrip("/")


@router.post(
    "/v1/portal_sessions",
    response_model=PortalSessionOut,
    status_code=201,
    summary="Create a billing portal link for a customer",
    responses=problem_responses(problems.NOT_FOUND, problems.INVALID_REQUEST),
)
def create_portal_session(
    data: PortalSessionCreate,
    request: Request,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
    settings: Settings = Depends(app_settings),
) -> PortalSessionOut:
    """Redirect your customer to `url`: it opens once, before `expires_at` (15 minutes), into
    a 12-hour portal session showing that customer only. Make a new one each time."""
    customer = customers.get_or_404(session, vendor, data.customer)
    link = service.create_link(
        session, customer, data.return_url, utcnow(), settings.portal_link_lifetime
    )
    session.commit()
    url = f"{portal_base(request, settings)}/portal/session/{link.token}"
    return PortalSessionOut(url=url, expires_at=link.row.expires_at)


def _branding_out(vendor: Vendor, settings: Settings) -> PortalBrandingOut:
    shown = branding_of(vendor, settings)
    return PortalBrandingOut(
        portal_name=vendor.portal_name,
        portal_color=vendor.portal_color,
        shown_name=shown.name,
        shown_color=shown.color,
        text_color=shown.text_color,
        customer_spend_limits=vendor.customer_spend_limits,
    )


@router.get(
    "/v1/vendor/portal", response_model=PortalBrandingOut, summary="Portal branding and settings"
)
def get_branding(
    vendor: Vendor = Depends(current_vendor), settings: Settings = Depends(app_settings)
) -> PortalBrandingOut:
    return _branding_out(vendor, settings)


@router.patch(
    "/v1/vendor/portal",
    response_model=PortalBrandingOut,
    summary="Set the portal's name, colour and what customers may change there",
    responses=problem_responses(problems.INVALID_REQUEST),
)
def update_branding(
    data: PortalBrandingUpdate,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
    settings: Settings = Depends(app_settings),
) -> PortalBrandingOut:
    """Absent fields stay; null returns to the defaults (METERING_PORTAL_VENDOR_NAME or your
    vendor name, METERING_PORTAL_BRAND_COLOR). Text on the colour is chosen for contrast.
    `customer_spend_limits: true` lets customers set their own spend limit in the portal;
    null is false, the default."""
    for field, value in data.model_dump(exclude_unset=True).items():
        if field == "customer_spend_limits":
            value = bool(value)
        setattr(vendor, field, value)
    session.add(vendor)
    session.commit()
    return _branding_out(vendor, settings)
