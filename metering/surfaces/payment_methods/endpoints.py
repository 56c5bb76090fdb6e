"""`/v1/customers/{id}/payment_method_session` and `/v1/customers/{id}/payment_method`: the
vendor opens the payment-method page for its customer, and reads what is on file."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field
from sqlmodel import Session

from metering.catalog.customers.service import get_or_404
from metering.catalog.vendors.auth import API_KEY_PROBLEMS, current_vendor
from metering.catalog.vendors.models import Vendor
from metering.platform.api import problems
from metering.platform.api.deps import app_settings
from metering.platform.api.problem_docs import problem_responses
from metering.platform.db.session import get_session
from metering.platform.settings import Settings
from metering.surfaces.payment_methods import service

router = APIRouter(
    prefix="/v1/customers", tags=["customers"], responses=problem_responses(*API_KEY_PROBLEMS)
)

PROBLEMS = (
    problems.NOT_FOUND,
    problems.PAYMENT_METHOD_NOT_SUPPORTED,
    problems.PROVIDER_UNAVAILABLE,
)


class PaymentMethodSessionCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"return_url": "https://app.example.com/billing"}]},
    )

    return_url: AnyHttpUrl = Field(
        description="Where the provider's page sends the customer back, done or cancelled."
    )


class PaymentMethodSessionOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "url": "https://checkout.stripe.com/c/pay/cs_test_a1b2c3",
                    "expires_at": "2026-11-05T10:00:00Z",
                    "provider": "stripe",
                }
            ]
        }
    )

    url: str = Field(description="The provider's hosted page (Stripe Checkout, setup mode).")
    expires_at: datetime | None
    provider: str


class PaymentMethodOut(BaseModel):
    """What the customer's invoices are charged to (`kind` card or bank_account)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "kind": "card",
                    "brand": "visa",
                    "last4": "4242",
                    "exp_month": 12,
                    "exp_year": 2030,
                }
            ]
        }
    )

    kind: str
    brand: str
    last4: str
    exp_month: int | None
    exp_year: int | None


@router.post(
    "/{customer_id}/payment_method_session",
    response_model=PaymentMethodSessionOut,
    status_code=201,
    summary="Open the page where the customer adds or replaces its payment method",
    responses=problem_responses(*PROBLEMS),
)
def create_payment_method_session(
    customer_id: str,
    data: PaymentMethodSessionCreate,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
    settings: Settings = Depends(app_settings),
) -> PaymentMethodSessionOut:
    """A Stripe-hosted Checkout Session in setup mode (the same the portal's "Add or update"
    opens): send the customer to `url`. When Stripe reports the method added, it becomes the
    customer's default for invoices and its failed payments are tried again at once. The
    customer's Stripe customer is made now if it has none yet. A customer collected
    manually is a 409 `payment-method-not-supported`."""
    customer = get_or_404(session, vendor, customer_id)
    made = service.setup_session(session, settings, customer, str(data.return_url))
    return PaymentMethodSessionOut(
        url=made.url, expires_at=made.expires_at, provider=customer.payment_provider
    )


@router.get(
    "/{customer_id}/payment_method",
    response_model=PaymentMethodOut | None,
    summary="The customer's payment method on file",
    responses=problem_responses(*PROBLEMS),
)
def get_payment_method(
    customer_id: str,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
    settings: Settings = Depends(app_settings),
) -> PaymentMethodOut | None:
    """The card (brand, last 4, expiry) or bank account its invoices are charged to, as its
    provider has it now; `null` when none is on file."""
    customer = get_or_404(session, vendor, customer_id)
    try:
        method = service.current(session, settings, customer)
    except service.MethodsNotKept as why:
        raise service.not_supported(customer, why) from None
    if method is None:
        return None
    return PaymentMethodOut(
        kind=method.kind,
        brand=method.brand,
        last4=method.last4,
        exp_month=method.exp_month,
        exp_year=method.exp_year,
    )
