"""Stripe as a payment provider: the calls of each sync step, made with the official client.

Our invoice becomes a one-off Stripe invoice, one invoice item per line. Every write
carries an idempotency key made from our ids and the invoice's `key_round`
(`metering:invoice:<id>:finalize:r0`), so a step repeated after a lost answer (a timeout, or
a crash between Stripe's answer and our commit) gets Stripe's first answer back instead of
making a second object. Stripe keeps every answer under its key for 24 hours, errors and
500s included, so after a definite answer the sync moves to the next round: a new key, a new
request. Before making an object under a new key (or after Stripe forgot the old one), the
object is looked up by our ids in its metadata, so none is made twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

import stripe
from stripe.params import (
    CustomerCreateParams,
    CustomerTaxIdCreateParams,
    CustomerUpdateParams,
    InvoiceCreateParams,
    InvoiceItemCreateParams,
)
from stripe.params.checkout import SessionCreateParams

from metering.billing.payments.models import SyncState
from metering.billing.payments.protocol import (
    Collection,
    CustomerSnapshot,
    DeclineCode,
    Declined,
    Failure,
    Finalized,
    InvoiceSnapshot,
    LineSnapshot,
    Paid,
    PaymentMethod,
    PaymentMethodAdded,
    PermanentSyncError,
    ProviderEvent,
    Sent,
    SetupSession,
    TaxLine,
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


def idempotency(invoice: InvoiceSnapshot, *parts: object) -> stripe.RequestOptions:
    """The idempotency key of one Stripe write: our ids, then the invoice's key round."""
    return _key(invoice.key_round, *parts)


def _key(key_round: int, *parts: object) -> stripe.RequestOptions:
    key = ":".join(str(part) for part in ("metering", *parts, f"r{key_round}"))
    return {"idempotency_key": key}


def _may_exist(invoice: InvoiceSnapshot, now: datetime) -> bool:
    """Whether an earlier attempt may have made what this call makes, without our holding its
    id, where the key will not find it: a definite answer moved the key round on since, or
    the last attempt is older than Stripe keeps keys."""
    return invoice.key_round > 0 or now - invoice.link_updated_at >= IDEMPOTENCY_WINDOW


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


def _description(invoice: InvoiceSnapshot) -> str:
    """What Stripe shows as the invoice's description: its period, or what it sells."""
    if invoice.kind == "credit_purchase":
        return f"Invoice {invoice.number}: prepaid credits"
    period = Period(invoice.period_start, invoice.period_end, None, invoice.timezone)
    return f"Invoice {invoice.number} for {period.local_days}"


def _stripe_customer(invoice: InvoiceSnapshot) -> str:
    if invoice.customer.provider_id is None:
        raise PermanentSyncError(f"customer {invoice.customer.id} has no Stripe customer id")
    return invoice.customer.provider_id


def _stripe_invoice(invoice: InvoiceSnapshot) -> str:
    if invoice.provider_invoice_id is None:
        raise PermanentSyncError(f"invoice {invoice.id} has no Stripe invoice id")
    return invoice.provider_invoice_id


def _address(address: Mapping[str, str | None]) -> Any:
    """Our address as Stripe's (the same field names)."""
    return {key: value for key, value in address.items() if value}


def _customer_metadata(customer: CustomerSnapshot) -> dict[str, str]:
    return {
        "metering_customer_id": customer.id,
        "metering_vendor_id": customer.vendor_id,
        "external_id": customer.external_id,
    }


# Stripe's payment method types that are bank accounts (debits), as the portal names them.
BANK_ACCOUNTS = ("sepa_debit", "us_bank_account", "bacs_debit", "au_becs_debit", "acss_debit")


def _described(method: stripe.PaymentMethod) -> PaymentMethod:
    """A card (brand, last 4, expiry) or a bank account (its type, last 4)."""
    details = method.to_dict().get(method.type) or {}
    if method.type == "card":
        return PaymentMethod(
            "card",
            str(details.get("brand") or "card"),
            str(details.get("last4") or ""),
            details.get("exp_month"),
            details.get("exp_year"),
        )
    kind = "bank_account" if method.type in BANK_ACCOUNTS else method.type
    brand = details.get("bank_name") or method.type
    return PaymentMethod(kind, str(brand), str(details.get("last4") or ""))


def _paid_at(paid: stripe.Invoice) -> datetime | None:
    transitions = getattr(paid, "status_transitions", None)
    stamp = transitions.paid_at if transitions is not None else None
    return datetime.fromtimestamp(stamp, UTC) if stamp else None


class StripeProvider:
    """The `PaymentProvider` of Stripe; `client` None: webhooks only (no API key)."""

    name = "stripe"
    label = "Stripe"
    keeps_payment_methods = True

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

    def ensure_customer(self, invoice: InvoiceSnapshot, now: datetime) -> str:
        """Create the Stripe customer (or bring our ids, and its name and email when we have
        them, up to date: a linked customer keeps the name it has in Stripe when ours has
        none)."""
        customer = invoice.customer
        if customer.provider_id is None:
            return self._create_customer(customer, invoice.key_round, _may_exist(invoice, now))
        updated: CustomerUpdateParams = {"metadata": _customer_metadata(customer)}
        if customer.name:
            updated["name"] = customer.name
        if customer.email:
            updated["email"] = customer.email
        if customer.address:
            updated["address"] = _address(customer.address)
        key = idempotency(invoice, "customer", customer.id, "update", _digest(updated))
        found = self.client.v1.customers.update(customer.provider_id, updated, options=key).id
        self._add_tax_ids(invoice, customer)
        return found

    def _add_tax_ids(self, invoice: InvoiceSnapshot, customer: CustomerSnapshot) -> None:
        """The customer's tax ids that its Stripe customer does not have yet (Stripe keeps
        them apart from the customer; a linked customer may have some already)."""
        if not customer.tax_ids or customer.provider_id is None:
            return
        listed = self.client.v1.customers.tax_ids.list(customer.provider_id)
        there = {(tax_id.type, tax_id.value) for tax_id in listed.auto_paging_iter()}
        for wanted in customer.tax_ids:
            if (wanted["type"], wanted["value"]) in there:
                continue
            params: CustomerTaxIdCreateParams = {
                "type": wanted["type"],
                "value": wanted["value"],
            }
            key = idempotency(invoice, "customer", customer.id, "tax_id", _digest(params))
            self.client.v1.customers.tax_ids.create(customer.provider_id, params, options=key)

    def _create_customer(self, customer: CustomerSnapshot, key_round: int, look: bool) -> str:
        """The Stripe customer made for ours (looked up first when `look`): the same key and
        parameters whether the sync or a payment method setup makes it, so within Stripe's
        idempotency window both get the same customer."""
        if look and (found := self._find_customer(customer.id)):
            return found
        created: CustomerCreateParams = {
            "name": customer.name or customer.external_id,
            "metadata": _customer_metadata(customer),
        }
        if customer.email:
            created["email"] = customer.email
        if customer.address:
            created["address"] = _address(customer.address)
        if customer.tax_ids:
            created["tax_id_data"] = [
                {"type": tax_id["type"], "value": tax_id["value"]} for tax_id in customer.tax_ids
            ]
        key = _key(key_round, "customer", customer.id, "create", _digest(created))
        return self.client.v1.customers.create(created, options=key).id

    def _find_customer(self, customer_id: str) -> str | None:
        """The Stripe customer made for ours whose id we never stored (Stripe's search, which
        may lag a minute behind a customer just made)."""
        query = f"metadata['metering_customer_id']:'{customer_id}'"
        found = self.client.v1.customers.search({"query": query, "limit": 1}).data
        return found[0].id if found else None

    def create_invoice(self, invoice: InvoiceSnapshot, now: datetime) -> str:
        """A draft one-off invoice in Stripe, collected only when we say so (auto_advance off).

        When an earlier attempt may have made one (see `_may_exist`), it is looked up first,
        not made again.
        """
        if _may_exist(invoice, now) and (found := self._find_by_metadata(invoice)):
            return found
        params: InvoiceCreateParams = {
            "customer": _stripe_customer(invoice),
            "currency": invoice.currency,
            "collection_method": _collection_method(invoice),
            "auto_advance": False,
            "pending_invoice_items_behavior": "exclude",
            "description": _description(invoice),
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
        if invoice.tax_provider == self.name:  # Stripe Tax computes it from the address
            params["automatic_tax"] = {"enabled": True}
        key = idempotency(invoice, "invoice", invoice.id, "create")
        return self.client.v1.invoices.create(params, options=key).id

    def add_item(self, invoice: InvoiceSnapshot, line: LineSnapshot, now: datetime) -> str:
        """A Stripe invoice item for the line, in minor units (a credit negative), over the
        line's period with its last second as `period[end]` (Stripe's end is inclusive).

        Items are made in line order, each saved before the next, so only the first line
        without one can have been made by an earlier attempt: that one is looked up first
        when it may have been (see `_may_exist`)."""
        first_missing = next(i for i in invoice.lines if i.provider_item_id is None)
        if line is first_missing and _may_exist(invoice, now):
            found = self._find_item(invoice, line)
            if found is not None:
                return found
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
            "metadata": metadata,
        }
        if line.period_end > line.period_start:  # a purchase of credits prices no period
            params["period"] = {
                "start": _timestamp(line.period_start),
                "end": _timestamp(line.period_end) - 1,
            }
        item = self.client.v1.invoice_items.create(
            params, options=idempotency(invoice, "line", line.id, "item")
        )
        return item.id

    def _find_item(self, invoice: InvoiceSnapshot, line: LineSnapshot) -> str | None:
        """The Stripe item made for the line whose id we never stored."""
        listed = self.client.v1.invoice_items.list(
            {"invoice": _stripe_invoice(invoice), "limit": 100}
        )
        for item in listed.auto_paging_iter():
            metadata = item.metadata
            if metadata and metadata.to_dict().get("metering_line_id") == line.id:
                return item.id
        return None

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
                options=idempotency(invoice, "invoice", invoice.id, "finalize"),
            ),
            stripe_invoice,
            ("open", "paid"),
        )
        _minor(invoice.total, invoice.currency, f"invoice {invoice.id} total")
        paid = Paid(_paid_at(finalized)) if finalized.status == "paid" else None
        taxes = finalized.total_taxes or []
        tax = sum(entry.amount for entry in taxes)
        total = _major(finalized.total - tax, invoice.currency)
        if invoice.tax_provider != self.name:
            return Finalized(total, finalized.hosted_invoice_url, paid)
        lines = tuple(self._tax_line(entry, invoice.currency) for entry in taxes)
        return Finalized(
            total, finalized.hosted_invoice_url, paid, _major(tax, invoice.currency), lines
        )

    def _tax_line(self, entry: stripe.Invoice.TotalTax, currency: str) -> TaxLine:
        """One of Stripe's computed taxes, named and rated by its tax rate."""
        details = entry.tax_rate_details
        amount = _major(entry.amount, currency)
        if details is None:
            return TaxLine("Tax", None, amount)
        rate = self.client.v1.tax_rates.retrieve(details.tax_rate)
        where = f" ({rate.jurisdiction})" if rate.jurisdiction else ""
        percent = Decimal(str(rate.percentage)).normalize()
        return TaxLine(f"{rate.display_name}{where}", percent, amount)

    def collect(self, invoice: InvoiceSnapshot) -> Collection:
        """charge_automatically: pay now; a declined card, a card that asks for
        authentication or a customer without a payment method is `Declined`. send_invoice:
        send it; the payment is reported by the `invoice.paid` webhook, as is a payment that
        is still processing."""
        stripe_invoice = _stripe_invoice(invoice)
        if invoice.collection_method == CollectionMethod.SEND_INVOICE:
            self._or_already(
                lambda: self.client.v1.invoices.send_invoice(
                    stripe_invoice, options=idempotency(invoice, "invoice", invoice.id, "send")
                ),
                stripe_invoice,
                ("paid",),
            )
            return Sent()
        try:
            paid = self.client.v1.invoices.pay(
                stripe_invoice, options=idempotency(invoice, "invoice", invoice.id, "pay")
            )
        except stripe.CardError as declined:
            return Declined(failures.describe(declined), failures.decline_code(declined))
        except stripe.InvalidRequestError as refused:
            current = self.client.v1.invoices.retrieve(stripe_invoice)
            if current.status == "paid":  # paid already (a repeat after the key expired)
                return Paid(_paid_at(current))
            if not self._has_payment_method(invoice):
                return Declined(failures.describe(refused), DeclineCode.NO_PAYMENT_METHOD)
            raise
        return Paid(_paid_at(paid)) if paid.status == "paid" else Sent()

    def _has_payment_method(self, invoice: InvoiceSnapshot) -> bool:
        """Whether Stripe has something to charge the customer's invoices to."""
        customer = self.client.v1.customers.retrieve(_stripe_customer(invoice))
        settings = customer.invoice_settings
        return bool(
            (settings is not None and settings.default_payment_method) or customer.default_source
        )

    def paid_elsewhere(self, invoice: InvoiceSnapshot) -> None:
        """Marked paid out of band in Stripe, so it is never charged or paid there again."""
        stripe_invoice = _stripe_invoice(invoice)
        self._or_already(
            lambda: self.client.v1.invoices.pay(
                stripe_invoice,
                {"paid_out_of_band": True},
                options=idempotency(invoice, "invoice", invoice.id, "paid_out_of_band"),
            ),
            stripe_invoice,
            ("paid",),
        )

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
                stripe_invoice, options=idempotency(invoice, "invoice", invoice.id, "void")
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

    def has_customer(self, external_id: str) -> bool:
        """Whether Stripe has the customer (a deleted one is answered as `deleted`)."""
        try:
            found = self.client.v1.customers.retrieve(external_id)
        except stripe.InvalidRequestError as error:
            if error.http_status == 404:
                return False
            raise
        return not getattr(found, "deleted", False)

    def open_customer(self, customer: CustomerSnapshot) -> str:
        return self._create_customer(customer, 0, look=True)

    def payment_method(self, customer: str) -> PaymentMethod | None:
        """The method Stripe charges the customer's invoices to: its invoice default, else its
        default source."""
        found = self.client.v1.customers.retrieve(customer)
        settings = found.invoice_settings
        default = settings.default_payment_method if settings is not None else None
        method_id = default if isinstance(default, str) else getattr(default, "id", None)
        source = found.default_source
        method_id = method_id or (source if isinstance(source, str) else None)
        if method_id is None:
            return None
        return _described(self.client.v1.payment_methods.retrieve(method_id))

    def payment_method_session(
        self, customer: str, return_url: str, currency: str | None
    ) -> SetupSession:
        """A Checkout Session in `setup` mode for the customer: Stripe's hosted page collects
        a card or bank account and returns to `return_url` (cancelled or not). Stripe
        chooses the methods it offers for `currency`; without one, cards only."""
        params: SessionCreateParams = {
            "mode": "setup",
            "customer": customer,
            "success_url": return_url,
            "cancel_url": return_url,
            "setup_intent_data": {"metadata": {"metering_purpose": "default_payment_method"}},
        }
        if currency is not None:
            params["currency"] = currency
        else:
            params["allowed_payment_method_types"] = ["card"]
        made = self.client.v1.checkout.sessions.create(params)
        if made.url is None:
            raise PermanentSyncError(f"Stripe Checkout Session {made.id} has no url")
        expires = datetime.fromtimestamp(made.expires_at, UTC) if made.expires_at else None
        return SetupSession(made.url, expires)

    def use_payment_method(self, added: PaymentMethodAdded) -> PaymentMethod:
        """The SetupIntent's payment method becomes the customer's default for invoices."""
        setup = self.client.v1.setup_intents.retrieve(added.setup)
        method = setup.payment_method
        method_id = method if isinstance(method, str) else getattr(method, "id", None)
        if setup.status != "succeeded" or method_id is None:
            raise PermanentSyncError(
                f"Stripe SetupIntent {added.setup} is {setup.status}: no payment method to use"
            )
        updated: CustomerUpdateParams = {"invoice_settings": {"default_payment_method": method_id}}
        # Without an idempotency key: setting the same default again is harmless, and a key
        # would replay a failed answer to every redelivery of the event for 24 hours.
        self.client.v1.customers.update(added.customer, updated)
        return _described(self.client.v1.payment_methods.retrieve(method_id))

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        return webhook.parse(payload, headers, self.webhook_secret or "", self.tolerance)
