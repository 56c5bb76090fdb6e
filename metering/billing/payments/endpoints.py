"""`/v1/vendor/dunning`: when the calling vendor's failed payments are tried again."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlmodel import Session

from metering.billing.payments.dunning import DEFAULT_RETRY_DAYS
from metering.billing.payments.schemas import DunningSettings, DunningSettingsUpdate, TaxSettings
from metering.catalog.vendors.auth import API_KEY_PROBLEMS, current_vendor
from metering.catalog.vendors.models import Vendor
from metering.platform.api import problems
from metering.platform.api.deps import app_settings
from metering.platform.api.problem_docs import problem_responses
from metering.platform.db.session import get_session
from metering.platform.settings import Settings

router = APIRouter(tags=["vendor"], responses=problem_responses(*API_KEY_PROBLEMS))


def _settings_out(vendor: Vendor) -> DunningSettings:
    days = vendor.payment_retry_days
    return DunningSettings(
        retry_days=list(DEFAULT_RETRY_DAYS) if days is None else days, default=days is None
    )


@router.get("/v1/vendor/dunning", response_model=DunningSettings, summary="Payment retries")
def get_dunning(vendor: Vendor = Depends(current_vendor)) -> DunningSettings:
    """When a failed payment is tried again: days after its first failure."""
    return _settings_out(vendor)


@router.patch(
    "/v1/vendor/dunning",
    response_model=DunningSettings,
    summary="Set when failed payments are tried again",
    responses=problem_responses(problems.INVALID_REQUEST),
)
def update_dunning(
    data: DunningSettingsUpdate,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> DunningSettings:
    """`retry_days`: ascending days (1 to 90) after the first failed payment of an invoice
    on which it is tried again, each a new attempt at the provider; after the last one fails
    the invoice stays `payment_failed` and `invoice.uncollectible` is sent. `[]` never
    retries; `null` returns to the default, 3, 5 and 7 days. A schedule applies to the
    invoices whose payment fails from now on, and to the next retry of those already
    failing. Only invoices charged automatically are retried, never paid or void ones."""
    vendor.payment_retry_days = data.retry_days
    session.add(vendor)
    session.commit()
    return _settings_out(vendor)


@router.get("/v1/vendor/tax", response_model=TaxSettings, summary="Tax computation")
def get_tax(vendor: Vendor = Depends(current_vendor)) -> TaxSettings:
    """Who computes tax on the vendor's invoices (null: nobody)."""
    return TaxSettings(provider=vendor.tax_provider)


@router.patch(
    "/v1/vendor/tax",
    response_model=TaxSettings,
    summary="Set who computes tax",
    responses=problem_responses(problems.INVALID_REQUEST),
)
def update_tax(
    data: TaxSettings,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
    settings: Settings = Depends(app_settings),
) -> TaxSettings:
    """`{"provider": "stripe"}`: Stripe Tax computes tax on every Stripe invoice issued from
    now on (`automatic_tax`), from the customer's `address` (send it, and any `tax_ids`, on
    `POST/PATCH /v1/customers`); Stripe refuses to finalize an invoice whose customer has no
    address, which shows as its sync error. Our invoice keeps its subtotal, and records the
    tax lines and the total with tax Stripe computed. Enable Stripe Tax in the Stripe
    Dashboard first. `null`: no tax. Manual invoices never carry tax."""
    if data.provider == "stripe" and not settings.stripe_api_key:
        raise problems.INVALID_REQUEST.error(
            "provider: Stripe is not configured on this service (no stripe_api_key)."
        )
    vendor.tax_provider = data.provider
    session.add(vendor)
    session.commit()
    return TaxSettings(provider=vendor.tax_provider)
