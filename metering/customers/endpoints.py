"""`/v1/customers`: the calling vendor's customers (another vendor's are 404)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from sqlmodel import Session, col

from metering.api.auth import current_vendor
from metering.api.pagination import Cursor, Limit, Page, paginate
from metering.api.problems import problem_responses
from metering.customers import repository, service
from metering.customers.models import Customer, CustomerStatus
from metering.customers.schemas import CustomerCreate, CustomerOut, CustomerUpdate, PlanAttach
from metering.db.session import get_session
from metering.plans.models import Plan
from metering.vendors.models import Vendor

router = APIRouter(prefix="/v1/customers", tags=["customers"], responses=problem_responses(401))


def customer_out(session: Session, customer: Customer) -> CustomerOut:
    plan = session.get(Plan, customer.plan_id) if customer.plan_id else None
    return CustomerOut(
        id=customer.id,
        external_id=customer.external_id,
        name=customer.name,
        email=customer.email,
        timezone=customer.timezone,
        status=customer.status,
        plan_id=customer.plan_id,
        plan=plan.slug if plan else None,
        created_at=customer.created_at,
        updated_at=customer.updated_at,
    )


@router.post(
    "",
    response_model=CustomerOut,
    status_code=201,
    summary="Create a customer",
    responses=problem_responses(409, 422),
)
def create_customer(
    data: CustomerCreate,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> CustomerOut:
    """A customer first seen in an event (status `unprovisioned`) is provisioned in place,
    keeping its id and events; an already provisioned external id is a 409."""
    customer = service.create(session, vendor, data)
    session.commit()
    return customer_out(session, customer)


@router.get("", response_model=Page[CustomerOut], summary="List customers")
def list_customers(
    cursor: Cursor = None,
    limit: Limit = 100,
    external_id: str | None = Query(None, description="Only the customer with this id."),
    status: CustomerStatus | None = Query(None, description="provisioned or unprovisioned"),
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> Page[CustomerOut]:
    statement = repository.listing(vendor.id, external_id, status.value if status else None)
    customers, next_cursor = paginate(session, statement, col(Customer.id), cursor, limit)
    data = [customer_out(session, customer) for customer in customers]
    return Page[CustomerOut](data=data, next_cursor=next_cursor)


@router.get(
    "/{customer_id}",
    response_model=CustomerOut,
    summary="Get a customer",
    responses=problem_responses(404),
)
def get_customer(
    customer_id: str,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> CustomerOut:
    """By our id (`cus_...`); to find one by your own id use `GET /v1/customers?external_id=`."""
    return customer_out(session, service.get_or_404(session, vendor, customer_id))


@router.patch(
    "/{customer_id}",
    response_model=CustomerOut,
    summary="Update a customer",
    responses=problem_responses(404, 422),
)
def update_customer(
    customer_id: str,
    data: CustomerUpdate,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> CustomerOut:
    customer = service.update(session, service.get_or_404(session, vendor, customer_id), data)
    session.commit()
    return customer_out(session, customer)


@router.post(
    "/{customer_id}/plan",
    response_model=CustomerOut,
    summary="Attach a plan",
    responses=problem_responses(404, 409, 422),
)
def attach_plan(
    customer_id: str,
    data: PlanAttach,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> CustomerOut:
    """The customer's stored events are matched again under the plan, in this transaction."""
    customer = service.get_or_404(session, vendor, customer_id)
    service.attach_plan(session, vendor, customer, data.plan, data.version)
    session.commit()
    return customer_out(session, customer)
