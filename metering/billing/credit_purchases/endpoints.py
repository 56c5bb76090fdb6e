"""`/v1/customers/{id}/auto_top_up`: a customer's automatic purchase of paid credits;
`/v1/vendor/portal_credit_purchases`: the credits customers may buy in the portal.

A one-off purchase is a grant with `purchase` (`/v1/customers/{id}/credit_grants`)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from sqlmodel import Session

from metering.billing.credit_purchases import portal_offer, top_up
from metering.billing.credit_purchases import service as purchases
from metering.billing.credit_purchases.models import AutoTopUp
from metering.billing.credit_purchases.schemas import AutoTopUpOut, AutoTopUpSet, PortalPurchases
from metering.catalog.customers import service as customers
from metering.catalog.vendors.auth import API_KEY_PROBLEMS, current_vendor
from metering.catalog.vendors.models import Vendor
from metering.platform.api import problems
from metering.platform.api.deps import app_settings
from metering.platform.api.problem_docs import problem_responses
from metering.platform.db.session import get_session
from metering.platform.db.types import utcnow
from metering.platform.settings import Settings

router = APIRouter(tags=["credits"], responses=problem_responses(*API_KEY_PROBLEMS))

PATH = "/v1/customers/{customer_id}/auto_top_up"


@router.put(
    PATH,
    response_model=AutoTopUpOut,
    summary="Set a customer's automatic top-up",
    responses=problem_responses(
        problems.NOT_FOUND,
        problems.INVALID_CREDIT_GRANT,
        problems.CREDIT_PURCHASE_UNAVAILABLE,
        problems.INVALID_REQUEST,
    ),
)
def set_auto_top_up(
    customer_id: str,
    data: AutoTopUpSet,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
    settings: Settings = Depends(app_settings),
) -> AutoTopUpOut:
    """When `available_after_projection` drops below `below` (checked as events arrive, at
    most once a minute, and at each close), a paid grant of `amount` is bought for `price`
    through the customer's payment provider: once per drop."""
    customer = customers.get_or_404(session, vendor, customer_id)
    providers = purchases.providers_of(settings)
    configured = top_up.configure(session, customer, data, providers, utcnow())
    session.commit()
    return top_up.top_up_out(configured)


def _top_up_or_404(session: Session, vendor: Vendor, customer_id: str) -> AutoTopUp:
    customer = customers.get_or_404(session, vendor, customer_id)
    found = session.get(AutoTopUp, customer.id)
    if found is None:
        raise problems.not_found("automatic top-up of customer", customer_id)
    return found


@router.get(
    PATH,
    response_model=AutoTopUpOut,
    summary="Get a customer's automatic top-up",
    responses=problem_responses(problems.NOT_FOUND),
)
def get_auto_top_up(
    customer_id: str,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> AutoTopUpOut:
    found = _top_up_or_404(session, vendor, customer_id)
    return top_up.top_up_out(found)


@router.delete(
    PATH,
    status_code=204,
    summary="Stop a customer's automatic top-up",
    responses=problem_responses(problems.NOT_FOUND),
)
def delete_auto_top_up(
    customer_id: str,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> Response:
    found = _top_up_or_404(session, vendor, customer_id)
    session.delete(found)
    session.commit()
    return Response(status_code=204)


OFFER_PATH = "/v1/vendor/portal_credit_purchases"


@router.get(
    OFFER_PATH,
    response_model=PortalPurchases,
    tags=["vendor"],
    summary="Credits customers may buy in the portal",
)
def get_portal_credit_purchases(vendor: Vendor = Depends(current_vendor)) -> PortalPurchases:
    """Whether the portal's Credits page has a "Buy credits" form, and the amounts allowed
    per currency (off until set)."""
    return portal_offer.offer_of(vendor)


@router.put(
    OFFER_PATH,
    response_model=PortalPurchases,
    tags=["vendor"],
    summary="Let customers buy credits in the portal",
    responses=problem_responses(problems.INVALID_REQUEST),
)
def set_portal_credit_purchases(
    data: PortalPurchases,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> PortalPurchases:
    """`enabled`: the portal's Credits page shows a "Buy credits" form to customers billed
    in a currency of `amounts`; the customer picks an amount between its `minimum` and
    `maximum`, the engine issues its purchase invoice (credits at face value) through the
    customer's payment provider and takes the customer to it; the grant is usable once the
    invoice is paid. `{"enabled": false}` turns it off."""
    offer = portal_offer.configure(vendor, data)
    session.add(vendor)
    session.commit()
    return offer
