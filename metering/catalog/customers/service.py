"""Customers: create (or provision one first seen in an event), update.

Plans are attached through subscriptions (`metering.catalog.subscriptions.service`).

Functions add and flush; the caller commits.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from metering.catalog.customers import repository
from metering.catalog.customers.models import Customer, CustomerStatus, PaymentProviderName
from metering.catalog.customers.schemas import CustomerCreate, CustomerUpdate
from metering.catalog.vendors.models import Vendor
from metering.platform.api import problems
from metering.platform.api.problems import ProblemError, not_found
from metering.platform.db.ids import new_id
from metering.platform.db.types import utcnow
from metering.platform.settings import Settings


def get_or_404(session: Session, vendor: Vendor, customer_id: str) -> Customer:
    customer = repository.get(session, vendor.id, customer_id)
    if customer is None:
        raise not_found("customer", customer_id)
    return customer


def by_reference_or_404(session: Session, vendor: Vendor, reference: str) -> Customer:
    """The customer a list filter names, by our id or the vendor's; unknown is a 404 as on
    `/v1/customers/{id}`, never an empty list that reads as "no invoices"."""
    customer = repository.by_reference(session, vendor.id, reference)
    if customer is None:
        raise not_found("customer", reference)
    return customer


def _exists(customer: Customer) -> ProblemError:
    return problems.CUSTOMER_EXISTS.error(
        f"A customer with external_id '{customer.external_id}' already exists: {customer.id}.",
        extra={"customer_id": customer.id},
    )


def _provision(session: Session, customer: Customer, data: CustomerCreate) -> Customer:
    """Give a customer first seen in an event the details the vendor now sends."""
    customer.name = data.name
    customer.email = data.email
    customer.timezone = data.timezone
    customer.locale = data.locale
    customer.collection_method = data.collection_method.value
    customer.days_until_due = data.days_until_due
    if data.payment_provider is not None:
        customer.payment_provider = data.payment_provider.value
    customer.address, customer.tax_ids = _tax_details(data)
    customer.status = CustomerStatus.PROVISIONED.value
    customer.updated_at = utcnow()
    session.add(customer)
    session.flush()
    return customer


def _tax_details(
    data: CustomerCreate | CustomerUpdate,
) -> tuple[dict[str, str] | None, list[dict[str, str]] | None]:
    """The address and tax ids as stored (JSON, absent address fields left out)."""
    address = data.address.model_dump(exclude_none=True) if data.address else None
    tax_ids = [tax_id.model_dump() for tax_id in data.tax_ids] if data.tax_ids else None
    return address, tax_ids


def default_payment_provider(settings: Settings) -> PaymentProviderName:
    """The provider of a customer created without one: Stripe when the service has a key,
    else manual (the vendor sends its invoices and records their payments)."""
    if settings.stripe_api_key:
        return PaymentProviderName.STRIPE
    return PaymentProviderName.MANUAL


def create(session: Session, vendor: Vendor, data: CustomerCreate) -> Customer:
    """A new customer; an unprovisioned one with the same external id is provisioned.
    Without a `payment_provider` it keeps the column's (stripe): the API passes
    `default_payment_provider` in."""
    for _ in range(2):  # a concurrent insert of the same external id: read it back once
        existing = repository.by_external_id(session, vendor.id, data.external_id)
        if existing is not None:
            if existing.status != CustomerStatus.UNPROVISIONED.value:
                raise _exists(existing)
            return _provision(session, existing, data)
        customer = Customer(
            id=new_id("cus"),
            vendor_id=vendor.id,
            external_id=data.external_id,
            name=data.name,
            email=data.email,
            timezone=data.timezone,
            locale=data.locale,
            collection_method=data.collection_method.value,
            days_until_due=data.days_until_due,
            status=CustomerStatus.PROVISIONED.value,
        )
        if data.payment_provider is not None:
            customer.payment_provider = data.payment_provider.value
        customer.address, customer.tax_ids = _tax_details(data)
        try:
            with session.begin_nested():
                session.add(customer)
            return customer
        except IntegrityError:
            continue
    raise _exists(customer)


NOT_NULL = {
    "timezone": "an IANA name such as UTC",
    "locale": "a locale such as en_US",
    "collection_method": "charge_automatically or send_invoice",
    "days_until_due": "a number of days",
    "payment_provider": "stripe or manual",
    "stripe_customer_id": "a Stripe customer id (cus_...)",
}

# Linked by the endpoint through `accounts.ProviderAccounts`, not a column of the customer.
LINKED = {"stripe_customer_id"}


def update(session: Session, customer: Customer, data: CustomerUpdate) -> Customer:
    changes = data.model_dump(exclude_unset=True, mode="json")
    for name, example in NOT_NULL.items():
        if name in changes and changes[name] is None:
            raise problems.INVALID_REQUEST.error(f"{name}: cannot be null; send {example}")
    address, tax_ids = _tax_details(data)
    for field, value in changes.items():
        if field == "address":
            customer.address = address
        elif field == "tax_ids":
            customer.tax_ids = tax_ids
        elif field == "invoice_at":
            customer.invoice_at = None if value is None else Decimal(value)
        elif field not in LINKED:
            setattr(customer, field, value)
    customer.updated_at = utcnow()
    session.add(customer)
    session.flush()
    return customer
