"""Customers: create (or provision one first seen in an event), update, attach a plan.

Functions add and flush; the caller commits.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from metering.api.problems import ProblemError, not_found, problem_type
from metering.customers import repository
from metering.customers.models import Customer, CustomerStatus
from metering.customers.schemas import CustomerCreate, CustomerUpdate
from metering.db.ids import new_id
from metering.db.types import utcnow
from metering.outcomes.service import rederive_customer
from metering.plans import repository as plans
from metering.plans.models import Plan
from metering.vendors.models import Vendor


def get_or_404(session: Session, vendor: Vendor, customer_id: str) -> Customer:
    customer = repository.get(session, vendor.id, customer_id)
    if customer is None:
        raise not_found("customer", customer_id)
    return customer


def _exists(customer: Customer) -> ProblemError:
    return ProblemError(
        409,
        "Customer Already Exists",
        f"A customer with external_id '{customer.external_id}' already exists: {customer.id}.",
        type=problem_type("customer-exists"),
        extra={"customer_id": customer.id},
    )


def _provision(session: Session, customer: Customer, data: CustomerCreate) -> Customer:
    """Give a customer first seen in an event the details the vendor now sends."""
    customer.name = data.name
    customer.email = data.email
    customer.timezone = data.timezone
    customer.status = CustomerStatus.PROVISIONED.value
    customer.updated_at = utcnow()
    session.add(customer)
    session.flush()
    return customer


def create(session: Session, vendor: Vendor, data: CustomerCreate) -> Customer:
    """A new customer; an unprovisioned one with the same external id is provisioned."""
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
            status=CustomerStatus.PROVISIONED.value,
        )
        try:
            with session.begin_nested():
                session.add(customer)
            return customer
        except IntegrityError:
            continue
    raise _exists(customer)


def update(session: Session, customer: Customer, data: CustomerUpdate) -> Customer:
    changes = data.model_dump(exclude_unset=True)
    if changes.get("timezone", "") is None:
        raise ProblemError(
            422,
            "Invalid Request",
            "timezone: cannot be null; send an IANA name such as UTC",
            type=problem_type("invalid-request"),
        )
    for field, value in changes.items():
        setattr(customer, field, value)
    customer.updated_at = utcnow()
    session.add(customer)
    session.flush()
    return customer


def attach_plan(
    session: Session, vendor: Vendor, customer: Customer, plan_ref: str, version: int | None
) -> Plan:
    """Put `customer` on a plan and re-derive its stored events' outcomes under it.

    A customer follows its plan's latest version; naming a version checks that it is that
    one, so an out-of-date pin is refused instead of silently ignored.
    """
    plan = plans.by_ref(session, vendor.id, plan_ref)
    if plan is None:
        raise not_found("plan", plan_ref)
    latest = plans.latest_version(session, plan.id)
    if latest is None:
        raise ProblemError(
            409,
            "Plan Has No Version",
            f"Plan '{plan.slug}' has no version yet; upload a rule file first.",
            type=problem_type("plan-without-version"),
        )
    if version is not None and version != latest.version:
        if plans.version(session, plan.id, version) is None:
            raise ProblemError(
                404,
                "Not Found",
                f"No version {version} of plan '{plan.slug}'.",
                type=problem_type("not-found"),
            )
        raise ProblemError(
            422,
            "Version Not Current",
            f"Version {version} of plan '{plan.slug}' is not its latest ({latest.version}); "
            "a customer is rated under its plan's latest version.",
            type=problem_type("version-not-current"),
        )
    customer.plan_id = plan.id
    customer.updated_at = utcnow()
    session.add(customer)
    session.flush()
    rederive_customer(session, customer)
    return plan
