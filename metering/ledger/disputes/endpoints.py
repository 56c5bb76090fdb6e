"""`/v1/disputes`: the calling vendor's disputes, and accepting or rejecting one."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from sqlmodel import Session, col

from metering.catalog.customers import service as customers
from metering.catalog.vendors.auth import API_KEY_PROBLEMS, current_vendor
from metering.catalog.vendors.models import Vendor
from metering.ledger.disputes import repository, service
from metering.ledger.disputes.models import Dispute, DisputeStatus
from metering.ledger.disputes.schemas import AcceptBody, DisputeOut, RejectBody
from metering.platform.api import problems
from metering.platform.api.pagination import Cursor, Limit, Page, paginate
from metering.platform.api.problem_docs import problem_responses
from metering.platform.db.session import get_session
from metering.platform.db.types import utcnow

router = APIRouter(tags=["disputes"], responses=problem_responses(*API_KEY_PROBLEMS))


@router.get(
    "/v1/disputes",
    response_model=Page[DisputeOut],
    summary="List disputes",
    responses=problem_responses(
        problems.INVALID_CURSOR, problems.INVALID_REQUEST, problems.NOT_FOUND
    ),
)
def list_disputes(
    cursor: Cursor = None,
    limit: Limit = 100,
    status: DisputeStatus | None = Query(None, description="Only disputes in this status."),
    customer: str | None = Query(
        None, description="Only this customer's: our id (cus_...) or yours."
    ),
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> Page[DisputeOut]:
    """Oldest first, a page at a time; `?status=open` is the queue to answer. An unknown
    customer is a 404."""
    customer_id = None
    if customer is not None:
        customer_id = customers.by_reference_or_404(session, vendor, customer).id
    statement = repository.listing(vendor.id, status.value if status else None, customer_id)
    rows, next_cursor = paginate(session, statement, col(Dispute.id), cursor, limit)
    return Page[DisputeOut](
        data=[service.dispute_out(row) for row in rows], next_cursor=next_cursor
    )


@router.get(
    "/v1/disputes/{dispute_id}",
    response_model=DisputeOut,
    summary="Get a dispute",
    responses=problem_responses(problems.NOT_FOUND),
)
def get_dispute(
    dispute_id: str,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> DisputeOut:
    return service.dispute_out(service.get_or_404(session, vendor, dispute_id))


@router.post(
    "/v1/disputes/{dispute_id}/accept",
    response_model=DisputeOut,
    summary="Accept a dispute (credit the outcome)",
    responses=problem_responses(
        problems.NOT_FOUND, problems.DISPUTE_RESOLVED, problems.INVALID_REQUEST
    ),
)
def accept_dispute(
    dispute_id: str,
    body: AcceptBody | None = None,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> DisputeOut:
    """The outcome is credited: left out of its period's invoice, or, when that invoice was
    issued already, taken back by a credit line on the customer's next invoice. An accepted
    or rejected dispute is a 409."""
    note = body.note if body else None
    dispute = service.accept(session, vendor, dispute_id, note, utcnow())
    session.commit()
    return service.dispute_out(dispute)


@router.post(
    "/v1/disputes/{dispute_id}/reject",
    response_model=DisputeOut,
    summary="Reject a dispute",
    responses=problem_responses(
        problems.NOT_FOUND, problems.DISPUTE_RESOLVED, problems.INVALID_REQUEST
    ),
)
def reject_dispute(
    dispute_id: str,
    body: RejectBody,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> DisputeOut:
    """The outcome stays billed; `note` (required) tells the customer why. An accepted or
    rejected dispute is a 409."""
    dispute = service.reject(session, vendor, dispute_id, body.note, utcnow())
    session.commit()
    return service.dispute_out(dispute)
