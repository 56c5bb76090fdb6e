"""`/v1/vendor/dunning`: when the calling vendor's failed payments are tried again."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlmodel import Session

from metering.billing.payments.dunning import DEFAULT_RETRY_DAYS
from metering.billing.payments.schemas import DunningSettings, DunningSettingsUpdate
from metering.catalog.vendors.auth import API_KEY_PROBLEMS, current_vendor
from metering.catalog.vendors.models import Vendor
from metering.platform.api import problems
from metering.platform.api.problem_docs import problem_responses
from metering.platform.db.session import get_session

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
