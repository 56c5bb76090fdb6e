"""`/portal/spend_limit`: the customer's own spend limit per period. When its vendor allows
it (`customer_spend_limits`), the customer sets, changes or removes it with forms carrying
the session's CSRF token, through the same service as `PUT /v1/customers/{id}/spend_limit`:
above zero, never above the plan's maximum."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from sqlmodel import Session

from metering.billing.allowance import limits_service
from metering.billing.allowance.schemas import SpendLimitIn
from metering.billing.credits.service import money
from metering.catalog.plans.compiled import rules_of
from metering.catalog.subscriptions import repository as subscriptions
from metering.catalog.subscriptions.service import in_force
from metering.platform.api.clock import request_now
from metering.platform.api.problems import ProblemError
from metering.platform.db.session import get_session
from metering.surfaces.portal.auth import (
    PortalContext,
    check_csrf,
    portal_context,
    render_page,
)
from metering.surfaces.portal.errors import PortalPageError

router = APIRouter(prefix="/portal/spend_limit", include_in_schema=False)

ON_REACH_LABELS = {
    "block": "Stop new usage (nothing past the limit is billed)",
    "stop_billing": "Keep working, bill no more than the limit",
    "notify": "Only tell me",
}
REACHED = {
    "block": "new usage past it is held and not billed",
    "stop_billing": "usage goes on and nothing past it is billed",
    "notify": "you are told, and usage is billed as usual",
}
FIELD_LABELS = {"amount": "Amount", "on_reach": "When it is reached"}


@dataclass(frozen=True, slots=True)
class LimitPage:
    """What the page shows: the limit set, the plan's maximum, the currency."""

    currency: str | None
    amount: Decimal | None
    on_reach: str | None
    plan_maximum: Decimal | None
    allowed: bool


def limit_page(session: Session, portal: PortalContext, now: datetime) -> LimitPage:
    customer = portal.customer
    subscription = in_force(subscriptions.of_customer(session, customer.id), now)
    rules = rules_of(session, subscription.plan_version_id) if subscription else None
    return LimitPage(
        currency=rules.currency if rules else None,
        amount=customer.spend_limit_amount,
        on_reach=customer.spend_limit_on_reach,
        plan_maximum=rules.maximum.amount if rules and rules.maximum else None,
        allowed=portal.vendor.customer_spend_limits and subscription is not None,
    )


def _render(
    request: Request,
    portal: PortalContext,
    session: Session,
    now: datetime,
    *,
    error: str | None = None,
    entered: tuple[str, str] | None = None,
    saved: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    page = limit_page(session, portal, now)
    shown = ""
    if page.amount is not None:
        shown = money(page.amount, page.currency) if page.currency else format(page.amount, "f")
    amount = entered[0] if entered else shown
    on_reach = entered[1] if entered else (page.on_reach or "block")
    return render_page(
        request,
        portal,
        "portal/spend_limit.html",
        {
            "page": page,
            "labels": ON_REACH_LABELS,
            "reached": REACHED,
            "error": error,
            "amount": amount,
            "on_reach": on_reach,
            "saved": saved,
        },
        status_code=status_code,
    )


@router.get("", response_class=HTMLResponse, name="portal_spend_limit")
def spend_limit_page(
    request: Request,
    portal: PortalContext = Depends(portal_context),
    session: Session = Depends(get_session),
    now: datetime = Depends(request_now),
) -> HTMLResponse:
    return _render(request, portal, session, now, saved=request.query_params.get("saved"))


def _refuse_unless_allowed(portal: PortalContext) -> None:
    if not portal.vendor.customer_spend_limits:
        raise PortalPageError(
            403,
            "Your spend limit is set by your vendor",
            f"{portal.branding.name} sets your spend limit. Contact them to change it.",
            portal=portal,
        )


def _field_error(problem: ProblemError) -> str:
    """The problem's first field error, named as the form labels it."""
    errors = problem.extra.get("errors") or []
    if not errors:
        return problem.detail
    first = errors[0]
    label = FIELD_LABELS.get(first["field"], first["field"])
    return f"{label}: {first['message']}"


@router.post("", response_model=None)
def set_spend_limit(
    request: Request,
    amount: str = Form(""),
    on_reach: str = Form("block"),
    csrf_token: str = Form(""),
    portal: PortalContext = Depends(portal_context),
    session: Session = Depends(get_session),
    now: datetime = Depends(request_now),
) -> HTMLResponse | RedirectResponse:
    """Set or change the limit; a refusal re-shows the form saying which field and why."""
    check_csrf(portal, csrf_token)
    _refuse_unless_allowed(portal)
    entered = (amount.strip(), on_reach)
    try:
        data = SpendLimitIn(amount=amount, on_reach=on_reach)
    except ValidationError as invalid:
        field = str(invalid.errors()[0]["loc"][0])
        message = (
            f"expected an amount such as 500.00, got {amount.strip()!r}"
            if field == "amount"
            else f"expected one of {', '.join(ON_REACH_LABELS)}"
        )
        error = f"{FIELD_LABELS.get(field, field)}: {message}"
        return _render(request, portal, session, now, error=error, entered=entered, status_code=422)
    try:
        limits_service.set_spend_limit(session, portal.customer, data, now)
    except ProblemError as problem:  # refused before anything was written
        if problem.status >= 500:
            raise
        return _render(
            request,
            portal,
            session,
            now,
            error=_field_error(problem),
            entered=entered,
            status_code=problem.status,
        )
    session.commit()
    return RedirectResponse("/portal/spend_limit?saved=set", status_code=303)


@router.post("/remove", response_model=None)
def remove_spend_limit(
    csrf_token: str = Form(""),
    portal: PortalContext = Depends(portal_context),
    session: Session = Depends(get_session),
    now: datetime = Depends(request_now),
) -> RedirectResponse:
    """Remove the customer's own limit: the plan's maximum (if any) applies again."""
    check_csrf(portal, csrf_token)
    _refuse_unless_allowed(portal)
    limits_service.clear_spend_limit(session, portal.customer, now)
    session.commit()
    return RedirectResponse("/portal/spend_limit?saved=removed", status_code=303)
