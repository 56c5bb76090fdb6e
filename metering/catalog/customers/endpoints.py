"""`/v1/customers`: the calling vendor's customers (another vendor's are 404)."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, Depends, Query
from sqlmodel import Session, col

from metering.catalog.customers import repository, service
from metering.catalog.customers.accounts import ProviderAccounts, provider_accounts
from metering.catalog.customers.models import Customer, CustomerStatus
from metering.catalog.customers.schemas import CustomerCreate, CustomerOut, CustomerUpdate
from metering.catalog.subscriptions import repository as subscriptions
from metering.catalog.subscriptions import service as subscription_service
from metering.catalog.subscriptions.models import Subscription
from metering.catalog.vendors.auth import API_KEY_PROBLEMS, current_vendor
from metering.catalog.vendors.models import Vendor
from metering.platform.api import problems
from metering.platform.api.deps import app_settings
from metering.platform.api.pagination import Cursor, Limit, Page, paginate
from metering.platform.api.problem_docs import problem_responses
from metering.platform.db.session import get_session
from metering.platform.db.types import utcnow
from metering.platform.settings import Settings

router = APIRouter(
    prefix="/v1/customers", tags=["customers"], responses=problem_responses(*API_KEY_PROBLEMS)
)


def customers_out(
    session: Session, customers: Sequence[Customer], accounts: ProviderAccounts
) -> list[CustomerOut]:
    """API views of customers with their current subscription, pending change and Stripe
    customer."""
    now = utcnow()
    stripe_ids = accounts.stripe_ids(session, [customer.id for customer in customers])
    subs = subscriptions.of_customers(session, [customer.id for customer in customers])
    shown: dict[str, tuple[Subscription | None, Subscription | None]] = {
        customer_id: subscription_service.current_and_pending(found, now)
        for customer_id, found in subs.items()
    }
    listed = [sub for pair in shown.values() for sub in pair if sub is not None]
    described = {out.id: out for out in subscription_service.describe(session, listed)}
    views = []
    for customer in customers:
        current, pending = shown.get(customer.id, (None, None))
        current_out = described[current.id] if current is not None else None
        views.append(
            CustomerOut(
                id=customer.id,
                external_id=customer.external_id,
                name=customer.name,
                email=customer.email,
                timezone=customer.timezone,
                locale=customer.locale,
                status=customer.status,
                plan_id=current_out.plan_id if current_out else None,
                plan=current_out.plan if current_out else None,
                subscription=current_out,
                pending_change=described[pending.id] if pending is not None else None,
                collection_method=customer.collection_method,
                days_until_due=customer.days_until_due,
                payment_provider=customer.payment_provider,
                stripe_customer_id=stripe_ids.get(customer.id),
                address=customer.address,
                tax_ids=customer.tax_ids,
                invoice_at=None if customer.invoice_at is None else str(customer.invoice_at),
                created_at=customer.created_at,
                updated_at=customer.updated_at,
            )
        )
    return views


def customer_out(session: Session, customer: Customer, accounts: ProviderAccounts) -> CustomerOut:
    return customers_out(session, [customer], accounts)[0]


LINK_PROBLEMS = (
    problems.STRIPE_CUSTOMER_INVALID,
    problems.STRIPE_CUSTOMER_CONFLICT,
    problems.PROVIDER_UNAVAILABLE,
)


@router.post(
    "",
    response_model=CustomerOut,
    status_code=201,
    summary="Create a customer",
    responses=problem_responses(problems.CUSTOMER_EXISTS, problems.INVALID_REQUEST, *LINK_PROBLEMS),
)
def create_customer(
    data: CustomerCreate,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
    settings: Settings = Depends(app_settings),
    accounts: ProviderAccounts = Depends(provider_accounts),
) -> CustomerOut:
    """A customer first seen in an event (status `unprovisioned`) is provisioned in place,
    keeping its id and events; an already provisioned external id is a 409. Without
    `payment_provider`, its invoices go to Stripe when the service has a Stripe key, else
    they are collected manually. `stripe_customer_id` links an existing Stripe customer
    (checked in Stripe first): the sync collects through it and never makes another."""
    if data.payment_provider is None:
        data = data.model_copy(
            update={"payment_provider": service.default_payment_provider(settings)}
        )
    customer = service.create(session, vendor, data)
    if data.stripe_customer_id is not None:
        session.flush()
        accounts.link_stripe(session, customer.id, data.stripe_customer_id)
    session.commit()
    return customer_out(session, customer, accounts)


@router.get(
    "",
    response_model=Page[CustomerOut],
    summary="List customers",
    responses=problem_responses(problems.INVALID_CURSOR),
)
def list_customers(
    cursor: Cursor = None,
    limit: Limit = 100,
    external_id: str | None = Query(None, description="Only the customer with this id."),
    status: CustomerStatus | None = Query(None, description="provisioned or unprovisioned"),
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
    accounts: ProviderAccounts = Depends(provider_accounts),
) -> Page[CustomerOut]:
    statement = repository.listing(vendor.id, external_id, status.value if status else None)
    customers, next_cursor = paginate(session, statement, col(Customer.id), cursor, limit)
    data = customers_out(session, customers, accounts)
    return Page[CustomerOut](data=data, next_cursor=next_cursor)


@router.get(
    "/{customer_id}",
    response_model=CustomerOut,
    summary="Get a customer",
    responses=problem_responses(problems.NOT_FOUND),
)
def get_customer(
    customer_id: str,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
    accounts: ProviderAccounts = Depends(provider_accounts),
) -> CustomerOut:
    """By our id (`cus_...`); to find one by your own id use `GET /v1/customers?external_id=`."""
    return customer_out(session, service.get_or_404(session, vendor, customer_id), accounts)


@router.patch(
    "/{customer_id}",
    response_model=CustomerOut,
    summary="Update a customer",
    responses=problem_responses(problems.NOT_FOUND, problems.INVALID_REQUEST, *LINK_PROBLEMS),
)
def update_customer(
    customer_id: str,
    data: CustomerUpdate,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
    accounts: ProviderAccounts = Depends(provider_accounts),
) -> CustomerOut:
    """`stripe_customer_id` links an existing Stripe customer (checked in Stripe first); the
    invoices issued from then on are made under it."""
    customer = service.update(session, service.get_or_404(session, vendor, customer_id), data)
    if data.stripe_customer_id is not None:
        accounts.link_stripe(session, customer.id, data.stripe_customer_id)
    session.commit()
    return customer_out(session, customer, accounts)
