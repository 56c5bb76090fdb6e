"""`/v1/customers/{id}/commitment`: consumption against the commitment."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlmodel import Session

from metering.billing.commitments import service
from metering.billing.commitments.schemas import CommitmentOut
from metering.catalog.customers import service as customers
from metering.catalog.vendors.auth import API_KEY_PROBLEMS, current_vendor
from metering.catalog.vendors.models import Vendor
from metering.platform.api import problems
from metering.platform.api.problem_docs import problem_responses
from metering.platform.db.session import get_session
from metering.platform.db.types import utcnow

router = APIRouter(tags=["commitments"], responses=problem_responses(*API_KEY_PROBLEMS))


@router.get(
    "/v1/customers/{customer_id}/commitment",
    response_model=CommitmentOut,
    summary="Consumption against the customer's commitment",
    responses=problem_responses(problems.NOT_FOUND, problems.NO_COMMITMENT),
)
def get_commitment(
    customer_id: str,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> CommitmentOut:
    """Units used in the current term (across its periods and plan versions), remaining,
    projected to the term's end at the rate so far, and when the term ends."""
    customer = customers.get_or_404(session, vendor, customer_id)
    return service.consumption(session, customer, utcnow())
