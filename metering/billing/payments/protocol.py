"""The protocol a payment provider implements, and the values that cross it.

The sync (`payments.sync`) owns everything that is the same for every provider: which
invoices are due, the lease, the order of the steps, saving each step before the next,
backoff, and what an answer does to our invoice (through `invoices.lifecycle`). A provider
only makes its calls and says what came back; it never writes our database.

A provider is passed in (built from the settings by the surfaces layer): billing never
imports one.
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

    `step`, `attempts` (consecutive failures) and `link_updated_at` (the last write of the
    link) let a provider tell a first attempt from a repeat.
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
    provider_invoice_id: str | None
    link_updated_at: datetime
    customer: CustomerSnapshot
    lines: tuple[LineSnapshot, ...]


@dataclass(frozen=True)
class Paid:
    """The provider has the invoice paid (`at`: when, if it says)."""

    at: datetime | None = None


@dataclass(frozen=True)
class Sent:
    """The invoice was sent to the customer; its payment comes back by webhook."""


@dataclass(frozen=True)
class Declined:
    """A payment attempt failed; `reason` in words an operator reads."""

    reason: str


@dataclass(frozen=True)
class Finalized:
    """The provider's invoice is final: its total (ours must equal it to the cent before
    anything is collected), its hosted page, and `paid` when nothing is left to collect."""

    total: Decimal
    hosted_url: str | None
    paid: Paid | None = None


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
class ProviderEvent:
    """A webhook delivery, parsed and verified.

    `external_invoice_id`: the provider's invoice it is about; `invoice_id`: ours, as the
    provider's copy names it (its metadata); `change`: None for an event we do not use.
    """

    id: str
    type: str
    external_invoice_id: str | None
    invoice_id: str | None
    change: InvoiceChange | None


class FailureKind(StrEnum):
    TRANSIENT = "transient"  # the network, a rate limit, a conflict, a 5xx: retry with backoff
    PERMANENT = "permanent"  # refused or bad data: stop and show the error


@dataclass(frozen=True)
class Failure:
    kind: FailureKind
    message: str


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

    def ensure_customer(self, invoice: InvoiceSnapshot) -> str:
        """Create the invoice's customer at the provider, or bring it up to date; its id."""

    def create_invoice(self, invoice: InvoiceSnapshot, now: datetime) -> str:
        """The provider's (draft) invoice for ours, made once; its id."""

    def add_item(self, invoice: InvoiceSnapshot, line: LineSnapshot) -> str:
        """The provider's item for one of our lines, made once; its id."""

    def finalize(self, invoice: InvoiceSnapshot) -> Finalized: ...

    def collect(self, invoice: InvoiceSnapshot) -> Collection:
        """Charge the customer's payment method, or send the invoice, as the invoice says."""

    def void(self, invoice: InvoiceSnapshot) -> None:
        """Void (or delete) the provider's copy, if there is one; `PermanentSyncError` when
        it cannot be (paid there)."""

    def failure(self, error: Exception) -> Failure | None:
        """What one of the provider's errors means; None for an error that is not its own."""

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        """The verified event of a delivery; `WebhookRejected` when it does not verify."""
