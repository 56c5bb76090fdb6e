"""Stripe as a payment provider: the calls of each sync step, made with the official client.

Our invoice becomes a one-off Stripe invoice, one invoice item per line. Every write
carries an idempotency key made from our ids, so a step repeated after a crash (the call
went through, our commit did not) gets Stripe's first answer back instead of making a
second object.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal

import stripe
from stripe.params import (
    CustomerCreateParams,
    CustomerUpdateParams,
    InvoiceCreateParams,
    InvoiceItemCreateParams,
)

from metering.billing.payments.models import SyncState
from metering.billing.payments.protocol import (
    Collection,
    Declined,
    Failure,
    Finalized,
    InvoiceSnapshot,
    LineSnapshot,
    Paid,
    PermanentSyncError,
    ProviderEvent,
    Sent,
)
from metering.catalog.customers.models import CollectionMethod
from metering.platform.settings import Settings
from metering.providers.stripe import failures, webhook
from metering.providers.stripe.client import make_client
from pricing_rules.money import minor_units, to_minor_units
from pricing_rules.periods import Period

# Stripe forgets an idempotency key after 24 hours; a step last touched longer ago than this
# may repeat a call whose key Stripe no longer knows.
IDEMPOTENCY_WINDOW = timedelta(hours=23)


def idempotency(*parts: object) -> stripe.RequestOptions:
    """The idempotency key of one Stripe write, made from our ids."""
    return {"idempotency_key": "metering:" + ":".join(str(part) for part in parts)}


def _timestamp(moment: datetime) -> int:
    return int(moment.timestamp())


def _digest(params: object) -> str:
    text = json.dumps(params, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _major(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-minor_units(currency))


def _minor(amount: Decimal, currency: str, what: str) -> int:
    """Stripe's integer amount; an amount finer than the currency's minor unit is refused
    (the close rounds every line, so this is a bug to show, not to round away)."""
    try:
        return to_minor_units(amount, currency)
    except ValueError:
        raise PermanentSyncError(
            f"{what}: {amount.normalize():f} {currency} is not rounded to the currency's minor unit"
        ) from None


def _collection_method(invoice: InvoiceSnapshot) -> Literal["charge_automatically", "send_invoice"]:
    if invoice.collection_method == CollectionMethod.SEND_INVOICE:
        return "send_invoice"
    return "charge_automatically"


def _stripe_customer(invoice: InvoiceSnapshot) -> str:
    if invoice.customer.provider_id is None:
        raise PermanentSyncError(f"customer {invoice.customer.id} has no Stripe customer id")
    return invoice.customer.provider_id


def _stripe_invoice(invoice: InvoiceSnapshot) -> str:
    if invoice.provider_invoice_id is None:
        raise PermanentSyncError(f"invoice {invoice.id} has no Stripe invoice id")
    return invoice.provider_invoice_id


def _paid_at(paid: stripe.Invoice) -> datetime | None:
    transitions = getattr(paid, "status_transitions", None)
    stamp = transitions.paid_at if transitions is not None else None
    return datetime.fromtimestamp(stamp, UTC) if stamp else None


class StripeProvider:
    """The `PaymentProvider` of Stripe; `client` None: webhooks only (no API key)."""

    name = "stripe"
    label = "Stripe"

    def __init__(
        self, client: stripe.StripeClient | None, webhook_secret: str | None, tolerance: int
    ) -> None:
        self._client = client
        self.webhook_secret = webhook_secret
        self.tolerance = tolerance

    @classmethod
    def from_settings(cls, settings: Settings) -> StripeProvider:
        return cls(
            make_client(settings),
            settings.stripe_webhook_secret,
            int(settings.webhook_tolerance.total_seconds()),
        )

    @property
    def client(self) -> stripe.StripeClient:
        if self._client is None:
            raise PermanentSyncError("Stripe is not configured (no stripe_api_key)")
        return self._client

    def ensure_customer(self, invoice: InvoiceSnapshot) -> str:
        """Create the Stripe customer (or bring its name, email and our ids up to date)."""
        customer = invoice.customer
        metadata = {
            "metering_customer_id": customer.id,
            "metering_vendor_id": customer.vendor_id,
            "external_id": customer.external_id,
        }
        name = customer.name or customer.external_id
        if customer.provider_id is None:
            created: CustomerCreateParams = {"name": name, "metadata": metadata}
            if customer.email:
                created["email"] = customer.email
            key = idempotency("customer", customer.id, "create", _digest(created))
            return self.client.v1.customers.create(created, options=key).id
        updated: CustomerUpdateParams = {"name": name, "metadata": metadata}
        if customer.email:
            updated["email"] = customer.email
        key = idempotency("customer", customer.id, "update", _digest(updated))
        return self.client.v1.customers.update(customer.provider_id, updated, options=key).id

    def create_invoice(self, invoice: InvoiceSnapshot, now: datetime) -> str:
        """A draft one-off invoice in Stripe, collected only when we say so (auto_advance off).

        When the previous attempt may be older than Stripe's idempotency window (its answer
        lost, then no worker for a day), the invoice it made is looked up first, not made again.
        """
        if now - invoice.link_updated_at >= IDEMPOTENCY_WINDOW:
            found = self._find_by_metadata(invoice)
            if found is not None:
                return found
        period = Period(invoice.period_start, invoice.period_end, None, invoice.timezone)
        params: InvoiceCreateParams = {
            "customer": _stripe_customer(invoice),
            "currency": invoice.currency,
            "collection_method": _collection_method(invoice),
            "auto_advance": False,
            "pending_invoice_items_behavior": "exclude",
            "description": f"Invoice {invoice.number} for {period.local_days}",
            "metadata": {
                "metering_invoice_id": invoice.id,
                "metering_invoice_number": str(invoice.number),
                "metering_vendor_id": invoice.vendor_id,
                "period_start": invoice.period_start.isoformat(),
                "period_end": invoice.period_end.isoformat(),
            },
        }
        if invoice.collection_method == CollectionMethod.SEND_INVOICE:
            params["days_until_due"] = invoice.days_until_due
        key = idempotency("invoice", invoice.id, "create")
        return self.client.v1.invoices.create(params, options=key).id

    def add_item(self, invoice: InvoiceSnapshot, line: LineSnapshot) -> str:
        """A Stripe invoice item for the line, in minor units (a credit negative)."""
        metadata = {
            "metering_line_id": line.id,
            "metering_invoice_id": invoice.id,
            "kind": line.kind,
            "charge_key": line.charge_key[:500],
        }
        if line.corrects_invoice_id is not None:
            metadata["corrects_invoice_id"] = line.corrects_invoice_id
        params: InvoiceItemCreateParams = {
            "customer": _stripe_customer(invoice),
            "invoice": _stripe_invoice(invoice),
            "amount": _minor(line.amount, invoice.currency, f"line {line.position} ({line.id})"),
            "currency": invoice.currency,
            "description": line.description,
            "period": {
                "start": _timestamp(line.period_start),
                "end": _timestamp(line.period_end),
            },
            "metadata": metadata,
        }
        item = self.client.v1.invoice_items.create(
            params, options=idempotency("line", line.id, "item")
        )
        return item.id

    def _or_already(
        self, call: Callable[[], stripe.Invoice], stripe_invoice: str, accept: tuple[str, ...]
    ) -> stripe.Invoice:
        """`call`, or, when Stripe refuses it because the invoice already got there (a repeat
        after the idempotency key expired), the invoice as it is."""
        try:
            return call()
        except stripe.InvalidRequestError:
            current = self.client.v1.invoices.retrieve(stripe_invoice)
            if current.status in accept:
                return current
            raise

    def finalize(self, invoice: InvoiceSnapshot) -> Finalized:
        stripe_invoice = _stripe_invoice(invoice)
        finalized = self._or_already(
            lambda: self.client.v1.invoices.finalize_invoice(
                stripe_invoice,
                {"auto_advance": False},
                options=idempotency("invoice", invoice.id, "finalize"),
            ),
            stripe_invoice,
            ("open", "paid"),
        )
        _minor(invoice.total, invoice.currency, f"invoice {invoice.id} total")
        paid = Paid(_paid_at(finalized)) if finalized.status == "paid" else None
        total = _major(finalized.total, invoice.currency)
        return Finalized(total, finalized.hosted_invoice_url, paid)

    def collect(self, invoice: InvoiceSnapshot) -> Collection:
        """charge_automatically: pay now (a declined card is `Declined`). send_invoice: send
        it; the payment is reported by the `invoice.paid` webhook."""
        stripe_invoice = _stripe_invoice(invoice)
        if invoice.collection_method == CollectionMethod.SEND_INVOICE:
            self._or_already(
                lambda: self.client.v1.invoices.send_invoice(
                    stripe_invoice, options=idempotency("invoice", invoice.id, "send")
                ),
                stripe_invoice,
                ("paid",),
            )
            return Sent()
        try:
            paid = self._or_already(
                lambda: self.client.v1.invoices.pay(
                    stripe_invoice,
                    options=idempotency("invoice", invoice.id, "pay", invoice.attempts),
                ),
                stripe_invoice,
                ("paid",),
            )
        except stripe.CardError as declined:
            return Declined(failures.describe(declined))
        return Paid(_paid_at(paid))

    def _find_by_metadata(self, invoice: InvoiceSnapshot) -> str | None:
        """The Stripe invoice made for ours whose id we never stored (the answer was lost)."""
        if invoice.customer.provider_id is None:
            return None
        listed = self.client.v1.invoices.list(
            {"customer": invoice.customer.provider_id, "limit": 100}
        )
        for candidate in listed.auto_paging_iter():
            metadata = candidate.metadata
            if metadata and metadata.to_dict().get("metering_invoice_id") == invoice.id:
                return candidate.id
        return None

    def void(self, invoice: InvoiceSnapshot) -> None:
        """Void the Stripe invoice (delete it while a draft); a paid one cannot be."""
        if invoice.step == SyncState.PAID:
            raise PermanentSyncError(
                f"Stripe invoice {invoice.provider_invoice_id} is paid and cannot be voided; "
                "refund it in Stripe"
            )
        stripe_invoice = invoice.provider_invoice_id
        if stripe_invoice is None and invoice.step == SyncState.CUSTOMER_SYNCED:
            stripe_invoice = self._find_by_metadata(invoice)
        if stripe_invoice is None:
            return
        if invoice.step not in (SyncState.FINALIZED, SyncState.FAILED):
            try:
                self.client.v1.invoices.delete(stripe_invoice)  # Stripe deletes drafts
                return
            except stripe.InvalidRequestError as error:
                if error.http_status == 404:  # deleted already
                    return
        voided = self._or_already(
            lambda: self.client.v1.invoices.void_invoice(
                stripe_invoice, options=idempotency("invoice", invoice.id, "void")
            ),
            stripe_invoice,
            ("void", "paid"),
        )
        if voided.status == "paid":
            raise PermanentSyncError(
                f"Stripe invoice {stripe_invoice} is paid and cannot be voided; refund it in Stripe"
            )

    def failure(self, error: Exception) -> Failure | None:
        return failures.failure(error)

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        return webhook.parse(payload, headers, self.webhook_secret or "", self.tolerance)
