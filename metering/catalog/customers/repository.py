"""Queries of customers, always scoped to one vendor."""

from __future__ import annotations

from sqlmodel import Session, select
from sqlmodel.sql.expression import SelectOfScalar

from metering.catalog.customers.models import Customer


def get(session: Session, vendor_id: str, customer_id: str) -> Customer | None:
    customer = session.get(Customer, customer_id)
    return customer if customer is not None and customer.vendor_id == vendor_id else None


def by_external_id(session: Session, vendor_id: str, external_id: str) -> Customer | None:
    statement = select(Customer).where(
        Customer.vendor_id == vendor_id, Customer.external_id == external_id
    )
    return session.exec(statement).first()


def by_reference(session: Session, vendor_id: str, reference: str) -> Customer | None:
    """A customer by our id (`cus_...`) or else by the vendor's external id for it."""
    return get(session, vendor_id, reference) or by_external_id(session, vendor_id, reference)


def listing(
    vendor_id: str, external_id: str | None = None, status: str | None = None
) -> SelectOfScalar[Customer]:
    statement = select(Customer).where(Customer.vendor_id == vendor_id)
    if external_id is not None:
        statement = statement.where(Customer.external_id == external_id)
    if status is not None:
        statement = statement.where(Customer.status == status)
    return statement


def with_external_id(session: Session, external_id: str) -> list[Customer]:
    """Every vendor's customer with this external id (the CLI names customers this way)."""
    statement = select(Customer).where(Customer.external_id == external_id)
    return list(session.exec(statement).all())
