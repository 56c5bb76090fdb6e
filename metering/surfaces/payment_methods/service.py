"""The customer's payment method at its payment provider, and the page to change it."""

from __future__ import annotations

from sqlmodel import Session

from metering.billing.payments import links
from metering.billing.payments.protocol import (
    CustomerSnapshot,
    PaymentMethod,
    PaymentProvider,
    SetupSession,
)
from metering.billing.payments.provider_calls import ask
from metering.catalog.customers.models import Customer
from metering.platform.api import problems
from metering.platform.db.types import utcnow
from metering.platform.settings import Settings
from metering.surfaces.portal.auth import formatter_for
from metering.surfaces.providers import configured_providers


class MethodsNotKept(Exception):
    """The customer's provider keeps no payment methods, or is not configured: why."""


def provider_of(settings: Settings, customer: Customer) -> PaymentProvider:
    """The provider that keeps the customer's payment method (`MethodsNotKept` if none)."""
    for provider in configured_providers(settings):
        if provider.name == customer.payment_provider:
            if not provider.keeps_payment_methods:
                raise MethodsNotKept(
                    f"{provider.label} collection keeps no payment methods: your vendor "
                    "collects its invoices itself"
                )
            return provider
    raise MethodsNotKept(f"{customer.payment_provider.capitalize()} is not configured")


def current(session: Session, settings: Settings, customer: Customer) -> PaymentMethod | None:
    """What the customer's invoices are charged to; None when nothing is on file (or it has
    no account at its provider yet)."""
    provider = provider_of(settings, customer)
    account = links.customer_external_id(session, customer.id, provider.name)
    if account is None:
        return None
    return ask(provider, lambda: provider.payment_method(account))


def _account(session: Session, provider: PaymentProvider, customer: Customer) -> str:
    """The customer's account at the provider, made (and linked, committed) when it has
    none yet; the link that won if the sync made one meanwhile."""
    account = links.customer_external_id(session, customer.id, provider.name)
    if account is not None:
        return account
    snapshot = CustomerSnapshot(
        customer.id, customer.vendor_id, customer.external_id, customer.name, customer.email, None
    )
    made = ask(provider, lambda: provider.open_customer(snapshot))
    links.link_customer(session, customer.id, provider.name, made)
    session.commit()
    return links.customer_external_id(session, customer.id, provider.name) or made


def setup_session(
    session: Session, settings: Settings, customer: Customer, return_url: str
) -> SetupSession:
    """The provider's hosted page where the customer adds or replaces its payment method,
    returning to `return_url` (offering what suits its plan's currency)."""
    try:
        provider = provider_of(settings, customer)
    except MethodsNotKept as why:
        raise not_supported(customer, why) from None
    account = _account(session, provider, customer)
    currency = formatter_for(session, customer, utcnow()).currency
    return ask(provider, lambda: provider.payment_method_session(account, return_url, currency))


def not_supported(customer: Customer, why: MethodsNotKept) -> Exception:
    return problems.PAYMENT_METHOD_NOT_SUPPORTED.error(
        f"Customer {customer.id} pays through '{customer.payment_provider}': {why}."
    )
