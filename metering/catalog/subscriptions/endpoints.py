"""`/v1/customers/{id}/subscriptions`: which plan version priced a customer when."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict
from sqlmodel import Session

from metering.catalog.customers import service as customers
from metering.catalog.subscriptions import repository, service
from metering.catalog.subscriptions.schemas import SUBSCRIPTION_EXAMPLE, SubscriptionOut
from metering.catalog.vendors.auth import API_KEY_PROBLEMS, current_vendor
from metering.catalog.vendors.models import Vendor
from metering.platform.api import problems
from metering.platform.api.problem_docs import problem_responses
from metering.platform.db.session import get_session

router = APIRouter(
    prefix="/v1/customers",
    tags=["subscriptions"],
    responses=problem_responses(*API_KEY_PROBLEMS, problems.NOT_FOUND),
)


class SubscriptionList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"data": [SUBSCRIPTION_EXAMPLE]}]})

    data: list[SubscriptionOut]


@router.get(
    "/{customer_id}/subscriptions",
    response_model=SubscriptionList,
    summary="List a customer's subscriptions",
)
def list_subscriptions(
    customer_id: str,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> SubscriptionList:
    """Oldest first: past ones, the one in force, and a pending change (starts later)."""
    customer = customers.get_or_404(session, vendor, customer_id)
    subs = repository.of_customer(session, customer.id)
    return SubscriptionList(data=service.describe(session, subs))
