"""The protocol a payment provider implements, and the values that cross it.

The sync (`payments.sync`) owns everything that is the same for every provider: which
invoices are due, the lease, the order of the steps, saving each step before the next,
backoff, and what an answer does to our invoice (through `invoices.lifecycle`). A provider
only makes its calls and says what came back; it never writes our database.

A provider is passed in (built from the settings by the surfaces layer): billing never
imports one.

Idempotency: the provider makes each write's idempotency key from our ids and the
snapshot's `key_round`. The sync bumps the round after every definite answer that was not a
success (a failure the provider `answered`, a declined payment), never after an answer that
was lost (a timeout, a connection error, a crash before our commit): a lost answer is asked
for again under the same key, and the provider replays it; a new attempt after a definite
answer is a new request. Since a new request may make an object twice, a provider looks an
object up by our ids in its metadata before making it again when `key_round` > 0 (or when
the previous attempt is older than its idempotency window).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol


@dataclass(frozen=True)
class CustomerSnapshot:
    """Our customer as the provider needs it; `provider_id`: its customer there, if linked."""

    id: str
    vendor_id: str
    external_id: str
    name: str | None
    email: str | None
    provider_id: str | None
    # Where tax is computed, and its tax ids ({type, value}): sent with the customer.
    address: dict[str, str] | None = None
    tax_ids: list[dict[str, str]] | None = None


@dataclass(frozen=True)
class LineSnapshot:
    id: str
    position: int
    kind: str
    charge_key: str
    description: str
    amount: Decimal
    period_start: datetime
    period_end: datetime
    corrects_invoice_id: str | None
    provider_item_id: str | None


@dataclass(frozen=True)
class InvoiceSnapshot:
    """An invoice, its customer, lines and payment link as committed when the step began.

    `step`, `attempts` (consecutive failures), `key_round` (see the module's docstring) and
    `link_updated_at` (the last write of the link) let a provider tell a first attempt from a
    repeat. `amount_paid`: what payments recorded outside the provider have paid of it.
    """

    id: str
    vendor_id: str
    number: int | None
    status: str
    currency: str
    total: Decimal
    collection_method: str
    days_until_due: int
    period_start: datetime
    period_end: datetime
    timezone: str
    step: str
    attempts: int
    key_round: int
    provider_invoice_id: str | None
    link_updated_at: datetime
    next_attempt_at: datetime | None
    amount_paid: Decimal
    customer: CustomerSnapshot
    lines: tuple[LineSnapshot, ...]
    # The vendor's tax provider (`stripe`: the provider computes tax); None: no tax.
    tax_provider: str | None = None
    # `period`, or `credit_purchase`: a one-off invoice selling credits, dated at one instant
    # (`period_start` == `period_end`), whose line prices no period.
    kind: str = "period"


@dataclass(frozen=True)
class Paid:
    """The provider has the invoice paid (`at`: when, if it says)."""

    at: datetime | None = None


@dataclass(frozen=True)
class Sent:
    """The invoice was sent to the customer; its payment comes back by webhook."""


class DeclineCode(StrEnum):
    """Why a payment failed, as far as the customer needs to know."""

    NO_PAYMENT_METHOD = "no_payment_method"
    CARD_DECLINED = "card_declined"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    AUTHENTICATION_REQUIRED = "authentication_required"
    EXPIRED_CARD = "expired_card"
    OTHER = "payment_failed"


# What each code says to the customer and the vendor (OTHER: the provider's own words).
DECLINE_WORDS: dict[DeclineCode, str] = {
    DeclineCode.NO_PAYMENT_METHOD: "No payment method is on file for the customer.",
    DeclineCode.CARD_DECLINED: "The card was declined.",
    DeclineCode.INSUFFICIENT_FUNDS: "The card has insufficient funds.",
    DeclineCode.AUTHENTICATION_REQUIRED: "The bank asks the customer to authenticate the payment.",
    DeclineCode.EXPIRED_CARD: "The card has expired.",
}


@dataclass(frozen=True)
class Declined:
    """A payment attempt failed (a definite answer). `reason`: in the provider's words, kept
    as the sync error for an operator; `code`: what it means, in plain words by `message`."""

    reason: str
    code: DeclineCode = DeclineCode.OTHER

    @property
    def message(self) -> str:
        return DECLINE_WORDS.get(self.code, self.reason)


@dataclass(frozen=True)
class TaxLine:
    """One tax the provider computed: as the customer reads it (`VAT (DE)`), its rate in
    percent, and its amount."""

    description: str
    rate: Decimal | None
    amount: Decimal


@dataclass(frozen=True)
class Finalized:
    """The provider's invoice is final: its total before tax (ours must equal it to the cent
    before anything is collected), its hosted page, `paid` when nothing is left to collect,
    and the tax it computed (`tax` None: the invoice computes none)."""

    total: Decimal
    hosted_url: str | None
    paid: Paid | None = None
    tax: Decimal | None = None
    tax_lines: tuple[TaxLine, ...] = ()


@dataclass(frozen=True)
class Voided:
    at: datetime | None = None


@dataclass(frozen=True)
class Opened:
    """The provider's invoice is final and open for payment, at its hosted page if it has one."""

    hosted_url: str | None


Collection = Paid | Sent | Declined
InvoiceChange = Paid | Declined | Voided | Opened


@dataclass(frozen=True)
class PaymentMethodAdded:
    """The customer finished the provider's setup flow for a payment method: `customer` is
    the provider's customer, `setup` the provider's reference of the flow (Stripe: the
    SetupIntent), from which `use_payment_method` takes the method."""

    customer: str
    setup: str


@dataclass(frozen=True)
class ProviderEvent:
    """A webhook delivery, parsed and verified.

    `external_invoice_id`: the provider's invoice it is about; `invoice_id`: ours, as the
    provider's copy names it (its metadata); `change`: None for an event we do not use.
    `payment_method`: a payment method the customer added (then the event is about no
    invoice).
    """

    id: str
    type: str
    external_invoice_id: str | None
    invoice_id: str | None
    change: InvoiceChange | None
    payment_method: PaymentMethodAdded | None = None


@dataclass(frozen=True)
class PaymentMethod:
    """The payment method a customer's invoices are charged to, as the customer knows it:
    `kind` card or bank_account; `brand` the card's network (visa) or the bank account's
    type (sepa_debit); expiry for cards only."""

    kind: str
    brand: str
    last4: str
    exp_month: int | None = None
    exp_year: int | None = None


@dataclass(frozen=True)
class SetupSession:
    """The provider's hosted page where the customer adds or replaces its payment method."""

    url: str
    expires_at: datetime | None


class NotSupported(Exception):
    """The provider does not do this (the manual provider keeps no payment methods)."""


class FailureKind(StrEnum):
    TRANSIENT = "transient"  # the network, a rate limit, a conflict, a 5xx: retry with backoff
    PERMANENT = "permanent"  # refused or bad data: stop and show the error


@dataclass(frozen=True)
class Failure:
    """A step's call failed. `answered`: the provider carried the request out and answered
    (a 4xx or 5xx it keeps under the idempotency key), so the next attempt must be a new
    request; False when the answer was lost or the request never ran (a timeout, a refused
    connection, a rate limit), so the next attempt asks again under the same key."""

    kind: FailureKind
    message: str
    answered: bool = False


class PermanentSyncError(Exception):
    """A failure that retrying cannot fix (the provider disagrees with our invoice, bad data)."""


class WebhookRejected(Exception):
    """A delivery that is not the provider's (bad signature) or not an event (bad body)."""


class PaymentProvider(Protocol):
    """One payment provider: each call is safe to repeat (a crash may repeat any of them),
    and none writes our database."""

    @property
    def name(self) -> str:
        """Stored in the links (`stripe`)."""

    @property
    def label(self) -> str:
        """As people read it in messages (`Stripe`)."""

    @property
    def keeps_payment_methods(self) -> bool:
        """Whether customers keep a payment method there (the payment-method calls below
        raise `NotSupported` when not)."""

    def ensure_customer(self, invoice: InvoiceSnapshot, now: datetime) -> str:
        """Create the invoice's customer at the provider, or bring it up to date; its id."""

    def create_invoice(self, invoice: InvoiceSnapshot, now: datetime) -> str:
        """The provider's (draft) invoice for ours, made once; its id."""

    def add_item(self, invoice: InvoiceSnapshot, line: LineSnapshot, now: datetime) -> str:
        """The provider's item for one of our lines, made once; its id."""

    def finalize(self, invoice: InvoiceSnapshot) -> Finalized: ...

    def collect(self, invoice: InvoiceSnapshot) -> Collection:
        """Charge the customer's payment method, or send the invoice, as the invoice says
        (a declined or impossible charge is `Declined`, never an exception)."""

    def paid_elsewhere(self, invoice: InvoiceSnapshot) -> None:
        """Our invoice was paid outside the provider (payments recorded through our API):
        mark the provider's copy paid, so it is never collected again."""

    def void(self, invoice: InvoiceSnapshot) -> None:
        """Void (or delete) the provider's copy, if there is one; `PermanentSyncError` when
        it cannot be (paid there)."""

    def failure(self, error: Exception) -> Failure | None:
        """What one of the provider's errors means; None for an error that is not its own."""

    def has_customer(self, external_id: str) -> bool:
        """Whether the provider has this customer (not deleted): an existing account a
        vendor links to one of ours."""

    def open_customer(self, customer: CustomerSnapshot) -> str:
        """The customer's account at the provider, made (once) when it has none yet, before
        any invoice: its id. `NotSupported` when the provider keeps no accounts."""

    def payment_method(self, customer: str) -> PaymentMethod | None:
        """What the provider's customer `customer` is charged to; None when nothing is.
        `NotSupported` when the provider keeps no payment methods."""

    def payment_method_session(
        self, customer: str, return_url: str, currency: str | None
    ) -> SetupSession:
        """A hosted page where the customer adds or replaces its payment method, returning
        to `return_url`, offering what suits `currency`; its result comes back by webhook
        (`PaymentMethodAdded`).
        `NotSupported` when the provider keeps no payment methods."""

    def use_payment_method(self, added: PaymentMethodAdded) -> PaymentMethod:
        """Make the method the customer just added the default for its invoices (safe to
        repeat); the method. `NotSupported` when the provider keeps none."""

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        """The verified event of a delivery; `WebhookRejected` when it does not verify."""
