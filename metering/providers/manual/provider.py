"""The `manual` payment provider: the vendor sends its invoices and records their payments.

It implements the whole protocol so that the sync treats a manual invoice as it treats a
Stripe one (same steps, same lifecycle), which proves the boundary: moving a customer between
providers changes no billing code. Its "copies" are ours: the provider's ids are our ids.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from metering.billing.payments.protocol import (
    Collection,
    CustomerSnapshot,
    Failure,
    Finalized,
    InvoiceSnapshot,
    LineSnapshot,
    NotSupported,
    Paid,
    PaymentMethod,
    PaymentMethodAdded,
    ProviderEvent,
    Sent,
    SetupSession,
    WebhookRejected,
)

NO_PAYMENT_METHODS = (
    "the manual provider keeps no payment methods: the vendor collects its invoices itself"
)


class ManualProvider:
    """The `PaymentProvider` whose collection is the vendor's own: nothing can fail here."""

    name = "manual"
    label = "Manual"
    keeps_payment_methods = False

    def ensure_customer(self, invoice: InvoiceSnapshot, now: datetime) -> str:
        return invoice.customer.id

    def create_invoice(self, invoice: InvoiceSnapshot, now: datetime) -> str:
        return invoice.id

    def add_item(self, invoice: InvoiceSnapshot, line: LineSnapshot, now: datetime) -> str:
        return line.id

    def finalize(self, invoice: InvoiceSnapshot) -> Finalized:
        """Final as issued; one with nothing to pay (credits above the charges) is paid at
        once, as Stripe does."""
        nothing_due = invoice.total <= 0
        return Finalized(invoice.total, None, Paid() if nothing_due else None)

    def collect(self, invoice: InvoiceSnapshot) -> Collection:
        """Sent, whatever the collection method: it is paid when payments recorded through
        the API cover it."""
        return Sent()

    def paid_elsewhere(self, invoice: InvoiceSnapshot) -> None:
        """Payments recorded through the API are how a manual invoice is paid: nothing to do."""

    def void(self, invoice: InvoiceSnapshot) -> None:
        """Ours is the only copy: nothing to void elsewhere."""

    def failure(self, error: Exception) -> Failure | None:
        return None

    def has_customer(self, external_id: str) -> bool:
        """There are no accounts elsewhere to link."""
        return False

    def open_customer(self, customer: CustomerSnapshot) -> str:
        raise NotSupported(NO_PAYMENT_METHODS)

    def payment_method(self, customer: str) -> PaymentMethod | None:
        raise NotSupported(NO_PAYMENT_METHODS)

    def payment_method_session(
        self, customer: str, return_url: str, currency: str | None
    ) -> SetupSession:
        raise NotSupported(NO_PAYMENT_METHODS)

    def use_payment_method(self, added: PaymentMethodAdded) -> PaymentMethod:
        raise NotSupported(NO_PAYMENT_METHODS)

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        raise WebhookRejected("the manual provider sends no webhooks")
