"""The sync steps: each makes its Stripe call(s), then commits the state it reached.

An invoice moves not_started -> customer_synced -> invoice_created -> items_created ->
finalized -> paid | failed (send_invoice: stays finalized once sent; payment comes by
webhook). A void invoice moves to void from any state. Every Stripe write carries an
idempotency key made from our ids, so a step repeated after a crash (the call went through,
our commit did not) gets Stripe's first answer back instead of making a second object.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

import sqlalchemy as sa
import stripe
from sqlalchemy.engine import Engine
from stripe.params import (
    CustomerCreateParams,
    CustomerUpdateParams,
    InvoiceCreateParams,
    InvoiceItemCreateParams,
)

from metering.billing.invoices.models import InvoiceStatus, SyncState
from metering.catalog.customers.models import CollectionMethod
from metering.providers.stripe import state
from metering.providers.stripe.failures import PermanentSyncError, describe
from metering.providers.stripe.state import InvoiceSnapshot
from pricing_rules.money import minor_units, to_minor_units
from pricing_rules.periods import Period


@dataclass(frozen=True)
class Run:
    """One sync pass: where to write, whom to call, as whom, and at what time."""

    engine: Engine
    client: stripe.StripeClient
    owner: str
    now: datetime
    lease: timedelta
    retry_base: timedelta
    retry_cap: timedelta
    started: float = field(default_factory=time.monotonic)

    def clock(self) -> datetime:
        """`now` moved on by the time this pass has taken (tests pass a fixed `now`)."""
        return self.now + timedelta(seconds=time.monotonic() - self.started)

    def save(self, invoice_id: str, values: dict[str, Any], *more: sa.Executable) -> None:
        """Commit a step's result (and renew the lease), or raise `LeaseLost`."""
        lease_until = self.clock() + self.lease
        state.write(
            self.engine, invoice_id, self.owner, {**values, "sync_lease_until": lease_until}, *more
        )


# Stripe forgets an idempotency key after 24 hours; a step last touched longer ago than this
# may repeat a call whose key Stripe no longer knows.
IDEMPOTENCY_WINDOW = timedelta(hours=23)

# A step that went through clears the error; `sync_attempts` counts consecutive failures.
SUCCEEDED: dict[str, Any] = {"sync_error": None, "sync_attempts": 0}

# A step returns whether the sync should go on to the next one.
Step = Callable[[Run, InvoiceSnapshot], bool]


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


def sync_customer(run: Run, invoice: InvoiceSnapshot) -> bool:
    """Create the Stripe customer (or bring its name, email and our ids up to date)."""
    customer = invoice.customer
    metadata = {
        "metering_customer_id": customer.id,
        "metering_vendor_id": customer.vendor_id,
        "external_id": customer.external_id,
    }
    name = customer.name or customer.external_id
    if customer.stripe_customer_id is None:
        created: CustomerCreateParams = {"name": name, "metadata": metadata}
        if customer.email:
            created["email"] = customer.email
        key = idempotency("customer", customer.id, "create", _digest(created))
        stripe_id = run.client.v1.customers.create(created, options=key).id
    else:
        updated: CustomerUpdateParams = {"name": name, "metadata": metadata}
        if customer.email:
            updated["email"] = customer.email
        key = idempotency("customer", customer.id, "update", _digest(updated))
        stripe_id = run.client.v1.customers.update(
            customer.stripe_customer_id, updated, options=key
        ).id
    run.save(
        invoice.id,
        {"sync_state": SyncState.CUSTOMER_SYNCED.value, **SUCCEEDED},
        state.set_stripe_customer(customer.id, stripe_id),
    )
    return True


def _stripe_customer(invoice: InvoiceSnapshot) -> str:
    if invoice.customer.stripe_customer_id is None:
        raise PermanentSyncError(f"customer {invoice.customer.id} has no Stripe customer id")
    return invoice.customer.stripe_customer_id


def _collection_method(invoice: InvoiceSnapshot) -> Literal["charge_automatically", "send_invoice"]:
    if invoice.collection_method == CollectionMethod.SEND_INVOICE:
        return "send_invoice"
    return "charge_automatically"


def create_invoice(run: Run, invoice: InvoiceSnapshot) -> bool:
    """A draft one-off invoice in Stripe, collected only when we say so (auto_advance off).

    When the previous attempt may be older than Stripe's idempotency window (its answer lost,
    then no worker for a day), the invoice it made is looked up first, not made again.
    """
    if run.now - invoice.updated_at >= IDEMPOTENCY_WINDOW:
        found = _find_by_metadata(run, invoice)
        if found is not None:
            run.save(
                invoice.id,
                {
                    "sync_state": SyncState.INVOICE_CREATED.value,
                    "stripe_invoice_id": found,
                    **SUCCEEDED,
                },
            )
            return True
    period = Period(invoice.period_start, invoice.period_end, None, invoice.timezone).local_days
    params: InvoiceCreateParams = {
        "customer": _stripe_customer(invoice),
        "currency": invoice.currency,
        "collection_method": _collection_method(invoice),
        "auto_advance": False,
        "pending_invoice_items_behavior": "exclude",
        "description": f"Invoice {invoice.number} for {period}",
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
    made = run.client.v1.invoices.create(params, options=key)
    run.save(
        invoice.id,
        {
            "sync_state": SyncState.INVOICE_CREATED.value,
            "stripe_invoice_id": made.id,
            **SUCCEEDED,
        },
    )
    return True


def _stripe_invoice(invoice: InvoiceSnapshot) -> str:
    if invoice.stripe_invoice_id is None:
        raise PermanentSyncError(f"invoice {invoice.id} has no Stripe invoice id")
    return invoice.stripe_invoice_id


def create_items(run: Run, invoice: InvoiceSnapshot) -> bool:
    """One Stripe invoice item per line, in minor units (credits negative); each stored."""
    stripe_invoice = _stripe_invoice(invoice)
    for line in invoice.lines:
        if line.stripe_item_id is not None:
            continue
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
            "invoice": stripe_invoice,
            "amount": _minor(line.amount, invoice.currency, f"line {line.position} ({line.id})"),
            "currency": invoice.currency,
            "description": line.description,
            "period": {
                "start": _timestamp(line.period_start),
                "end": _timestamp(line.period_end),
            },
            "metadata": metadata,
        }
        item = run.client.v1.invoice_items.create(
            params, options=idempotency("line", line.id, "item")
        )
        run.save(invoice.id, {}, state.set_stripe_item(line.id, item.id))
    run.save(invoice.id, {"sync_state": SyncState.ITEMS_CREATED.value, **SUCCEEDED})
    return True


def _or_already(
    call: Callable[[], stripe.Invoice],
    run: Run,
    stripe_invoice: str,
    accept: tuple[str, ...],
) -> stripe.Invoice:
    """`call`, or, when Stripe refuses it because the invoice already got there (a repeat
    after the idempotency key expired), the invoice as it is."""
    try:
        return call()
    except stripe.InvalidRequestError:
        current = run.client.v1.invoices.retrieve(stripe_invoice)
        if current.status in accept:
            return current
        raise


def finalize(run: Run, invoice: InvoiceSnapshot) -> bool:
    """Finalize, and stop for good if Stripe's total is not ours to the cent."""
    stripe_invoice = _stripe_invoice(invoice)
    finalized = _or_already(
        lambda: run.client.v1.invoices.finalize_invoice(
            stripe_invoice,
            {"auto_advance": False},
            options=idempotency("invoice", invoice.id, "finalize"),
        ),
        run,
        stripe_invoice,
        ("open", "paid"),
    )
    expected = _minor(invoice.total, invoice.currency, f"invoice {invoice.id} total")
    if finalized.total != expected:
        currency = invoice.currency
        raise PermanentSyncError(
            f"Stripe invoice {stripe_invoice} totals {_major(finalized.total, currency)} "
            f"{currency}, ours {_major(expected, currency)} {currency}: not collected; "
            "void the invoice once the difference is understood"
        )
    values: dict[str, Any] = {
        "sync_state": SyncState.FINALIZED.value,
        "stripe_hosted_url": finalized.hosted_invoice_url,
        **SUCCEEDED,
    }
    if finalized.status == "paid":  # nothing to collect: Stripe marks it paid at once
        values["sync_state"] = SyncState.PAID.value
        run.save(invoice.id, values, _mark_paid(finalized, invoice, run))
        return False
    run.save(invoice.id, values)
    return True


def _mark_paid(paid: stripe.Invoice, invoice: InvoiceSnapshot, run: Run) -> sa.Executable:
    transitions = getattr(paid, "status_transitions", None)
    stamp = transitions.paid_at if transitions is not None else None
    paid_at = datetime.fromtimestamp(stamp, UTC) if stamp else run.now
    return state.set_status(invoice.id, InvoiceStatus.PAID, paid_at=paid_at)


def collect(run: Run, invoice: InvoiceSnapshot) -> bool:
    """charge_automatically: pay now (a decline makes the invoice payment_failed).
    send_invoice: send it; the payment is reported by the `invoice.paid` webhook."""
    stripe_invoice = _stripe_invoice(invoice)
    if invoice.collection_method == CollectionMethod.SEND_INVOICE:
        _or_already(
            lambda: run.client.v1.invoices.send_invoice(
                stripe_invoice, options=idempotency("invoice", invoice.id, "send")
            ),
            run,
            stripe_invoice,
            ("paid",),
        )
        run.save(invoice.id, {**SUCCEEDED})
        return False
    try:
        paid = _or_already(
            lambda: run.client.v1.invoices.pay(
                stripe_invoice,
                options=idempotency("invoice", invoice.id, "pay", invoice.sync_attempts),
            ),
            run,
            stripe_invoice,
            ("paid",),
        )
    except stripe.CardError as declined:
        run.save(
            invoice.id,
            {
                "sync_state": SyncState.FAILED.value,
                "sync_error": describe(declined),
                "sync_attempts": invoice.sync_attempts + 1,
            },
            state.set_status(invoice.id, InvoiceStatus.PAYMENT_FAILED),
        )
        return False
    run.save(
        invoice.id,
        {"sync_state": SyncState.PAID.value, **SUCCEEDED},
        _mark_paid(paid, invoice, run),
    )
    return False


def _find_by_metadata(run: Run, invoice: InvoiceSnapshot) -> str | None:
    """The Stripe invoice made for ours whose id we never stored (the answer was lost)."""
    if invoice.customer.stripe_customer_id is None:
        return None
    listed = run.client.v1.invoices.list(
        {"customer": invoice.customer.stripe_customer_id, "limit": 100}
    )
    for candidate in listed.auto_paging_iter():
        metadata = candidate.metadata
        if metadata and metadata.to_dict().get("metering_invoice_id") == invoice.id:
            return candidate.id
    return None


def _void_in_stripe(run: Run, invoice: InvoiceSnapshot, stripe_invoice: str, draft: bool) -> None:
    if draft:
        try:
            run.client.v1.invoices.delete(stripe_invoice)  # Stripe deletes drafts, voids others
            return
        except stripe.InvalidRequestError as error:
            if error.http_status == 404:  # deleted already
                return
    voided = _or_already(
        lambda: run.client.v1.invoices.void_invoice(
            stripe_invoice, options=idempotency("invoice", invoice.id, "void")
        ),
        run,
        stripe_invoice,
        ("void", "paid"),
    )
    if voided.status == "paid":
        raise PermanentSyncError(
            f"Stripe invoice {stripe_invoice} is paid and cannot be voided; refund it in Stripe"
        )


def void(run: Run, invoice: InvoiceSnapshot) -> bool:
    """Our invoice is void: void (or delete the draft of) its Stripe invoice, if any."""
    if invoice.sync_state == SyncState.PAID:
        raise PermanentSyncError(
            f"Stripe invoice {invoice.stripe_invoice_id} is paid and cannot be voided; "
            "refund it in Stripe"
        )
    stripe_invoice = invoice.stripe_invoice_id
    if stripe_invoice is None and invoice.sync_state == SyncState.CUSTOMER_SYNCED:
        stripe_invoice = _find_by_metadata(run, invoice)
    if stripe_invoice is not None:
        draft = invoice.sync_state not in (SyncState.FINALIZED, SyncState.FAILED)
        _void_in_stripe(run, invoice, stripe_invoice, draft)
    run.save(invoice.id, {"sync_state": SyncState.VOID.value, **SUCCEEDED})
    return False


ISSUED_STEPS: dict[str, Step] = {
    SyncState.NOT_STARTED: sync_customer,
    SyncState.CUSTOMER_SYNCED: create_invoice,
    SyncState.INVOICE_CREATED: create_items,
    SyncState.ITEMS_CREATED: finalize,
    SyncState.FINALIZED: collect,
}


def next_step(invoice: InvoiceSnapshot) -> Step | None:
    """What to do next for the invoice's status and sync state; None when nothing is."""
    if invoice.status == InvoiceStatus.VOID:
        return None if invoice.sync_state == SyncState.VOID else void
    if invoice.status in (InvoiceStatus.ISSUED, InvoiceStatus.PAYMENT_FAILED):
        return ISSUED_STEPS.get(invoice.sync_state)
    return None
