"""Who is looking at a portal page: the customer of a signed session cookie.

The cookie (signed with itsdangerous, HttpOnly, SameSite=Lax) names a portal session row and
carries that session's CSRF token; the row says which customer it is scoped to and whether
it was ended by logout, so a copied cookie dies with the session. Every portal page takes
`portal_context`; every portal form posts the CSRF token back, checked by `check_csrf`.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from itsdangerous import BadSignature, SignatureExpired
from sqlmodel import Session

from metering.catalog.customers.models import Customer
from metering.catalog.plans.compiled import rules_of
from metering.catalog.subscriptions import repository as subscriptions
from metering.catalog.subscriptions.service import in_force
from metering.catalog.vendors.models import Vendor
from metering.platform.db.session import get_session
from metering.platform.db.types import utcnow
from metering.platform.settings import Settings
from metering.platform.web.format import Formatter
from metering.platform.web.templating import render
from metering.surfaces.portal.branding import Branding, branding_of
from metering.surfaces.portal.errors import PortalPageError
from metering.surfaces.portal.invoices import FailedPayment, failed_payments
from metering.surfaces.portal.keys import serializer
from metering.surfaces.portal.models import PortalSession

COOKIE_NAME = "portal_session"
COOKIE_SALT = "portal-session"


@dataclass(frozen=True)
class PortalContext:
    """The signed-in customer, its vendor, and what every portal page shows or checks."""

    vendor: Vendor
    customer: Customer
    session_id: str
    csrf_token: str
    return_url: str | None
    branding: Branding
    fmt: Formatter
    # The customer's invoices whose payment failed (a banner on every page), newest first.
    failed_payments: tuple[FailedPayment, ...] = ()


def _signed_out(title: str, message: str) -> PortalPageError:
    return PortalPageError(401, title, message)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def cookie_value(request: Request, session_id: str, csrf_token: str) -> str:
    """The signed cookie of a session (made when its link is opened)."""
    return serializer(request, COOKIE_SALT).dumps({"sid": session_id, "csrf": csrf_token})


def _read_cookie(request: Request) -> tuple[str, str]:
    raw = request.cookies.get(COOKIE_NAME)
    if not raw:
        raise _signed_out(
            "You are not signed in",
            "Open the billing portal from your vendor's app to get a new sign-in link.",
        )
    max_age = int(_settings(request).portal_session_lifetime.total_seconds())
    try:
        payload: Any = serializer(request, COOKIE_SALT).loads(raw, max_age=max_age)
    except SignatureExpired:
        raise _signed_out(
            "Your session has expired",
            "Portal sessions last 12 hours. Ask your vendor's app for a new link.",
        ) from None
    except BadSignature:
        raise _signed_out(
            "Your session is not valid",
            "The session cookie was changed or comes from elsewhere. Ask for a new link.",
        ) from None
    if not isinstance(payload, dict) or not {"sid", "csrf"} <= payload.keys():
        raise _signed_out("Your session is not valid", "Ask your vendor's app for a new link.")
    return str(payload["sid"]), str(payload["csrf"])


def formatter_for(session: Session, customer: Customer, now: datetime) -> Formatter:
    """The customer's locale with its plan's currency and timezone (the plan in force now,
    else its latest one; a customer without a plan gets its own timezone)."""
    subs = subscriptions.of_customer(session, customer.id)
    chosen = in_force(subs, now) or (subs[-1] if subs else None)
    if chosen is None:
        return Formatter(locale=customer.locale, timezone=customer.timezone)
    rules = rules_of(session, chosen.plan_version_id)
    return Formatter(
        locale=customer.locale, timezone=rules.billing.timezone, currency=rules.currency
    )


def portal_context(request: Request, session: Session = Depends(get_session)) -> PortalContext:
    """The signed-in customer of this request; a 401 page when there is none."""
    session_id, csrf_token = _read_cookie(request)
    row = session.get(PortalSession, session_id)
    now = utcnow()
    lifetime = _settings(request).portal_session_lifetime
    if row is None or row.used_at is None or row.ended_at is not None:
        raise _signed_out(
            "You are signed out", "This session has ended. Ask your vendor's app for a new link."
        )
    if row.used_at + lifetime <= now:
        raise _signed_out(
            "Your session has expired",
            "Portal sessions last 12 hours. Ask your vendor's app for a new link.",
        )
    customer = session.get(Customer, row.customer_id)
    vendor = session.get(Vendor, row.vendor_id)
    if customer is None or vendor is None or customer.vendor_id != vendor.id:
        raise _signed_out("Your session is not valid", "Ask your vendor's app for a new link.")
    return PortalContext(
        vendor=vendor,
        customer=customer,
        session_id=row.id,
        csrf_token=csrf_token,
        return_url=row.return_url,
        branding=branding_of(vendor, _settings(request)),
        fmt=formatter_for(session, customer, now),
        failed_payments=tuple(failed_payments(session, customer.id)),
    )


def check_csrf(context: PortalContext, token: str | None) -> None:
    """Refuse (403 page) a portal form whose `csrf_token` is not this session's."""
    if not token or not hmac.compare_digest(token.encode(), context.csrf_token.encode()):
        raise PortalPageError(
            403,
            "This form has expired",
            "The form was not sent from this portal session (or the session changed). Go "
            "back, reload the page and send it again.",
            portal=context,
        )


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def require_csrf(request: Request, portal: PortalContext = Depends(portal_context)) -> None:
    """Router-wide guard: any portal request that changes something carries the CSRF token.

    Handlers still call `check_csrf` themselves; this makes a form that forgets to fail
    closed. The form is parsed once (Starlette caches it for the handler's Form fields).
    """
    if request.method in SAFE_METHODS:
        return
    token = (await request.form()).get("csrf_token")
    check_csrf(portal, token if isinstance(token, str) else None)


def render_page(
    request: Request,
    portal: PortalContext,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    """A portal page: template `name` (extending portal/base.html) with `portal` and `fmt`."""
    values = {"portal": portal, "fmt": portal.fmt, **(context or {})}
    return render(request, name, values, status_code=status_code)
