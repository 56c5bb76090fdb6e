"""The steps of the sync: each calls the provider, then commits the state it reached.

An issued invoice moves not_started -> customer_synced -> invoice_created -> items_created
-> finalized -> paid | failed at its provider (a sent invoice stays finalized: its payment
comes back by webhook); a failed payment is collected again from `failed` when its retry is
due (`dunning`); a void invoice moves to void from any step. The provider's total must equal
ours to the cent before anything is collected. An invoice paid outside the provider
(payments recorded through the API) still goes through the steps, and its copy is then
marked paid instead of collected; one partly paid that way is not charged by the provider
(it would charge the whole total). What a result does to our invoice goes through
`invoices.lifecycle` and `dunning`, in the transaction that saves the step.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from sqlalchemy.engine import Engine

from metering.billing.invoices import lifecycle
from metering.billing.invoices.models import InvoiceStatus
from metering.billing.payments import dunning, links, state
from metering.billing.payments.models import SyncState
from metering.billing.payments.protocol import (
    Declined,
    InvoiceSnapshot,
    Paid,
    PaymentProvider,
    PermanentSyncError,
    Sent,
)
from pricing_rules.engine import money_text
from pricing_rules.money import minor_units


@dataclass(frozen=True)
class Run:
    """One sync pass: where to write, which provider to call, as whom, and at what time."""

    engine: Engine
    provider: PaymentProvider
    owner: str
    now: datetime
    lease: timedelta
    retry_base: timedelta
    retry_cap: timedelta
    started: float = field(default_factory=time.monotonic)

    def clock(self) -> datetime:
        """`now` moved on by the time this pass has taken (tests pass a fixed `now`)."""
        return self.now + timedelta(seconds=time.monotonic() - self.started)

    def save(self, invoice_id: str, values: dict[str, Any], *then: state.Then) -> None:
        """Commit a step's result (and renew the lease), or raise `LeaseLost`."""
        lease_until = self.clock() + self.lease
        state.write(
            self.engine, invoice_id, self.owner, {**values, "lease_until": lease_until}, *then
        )


# A step that went through clears the error; `attempts` counts consecutive failures.
SUCCEEDED: dict[str, Any] = {"error": None, "attempts": 0}

# A step returns whether the sync should go on to the next one.
Step = Callable[[Run, InvoiceSnapshot], bool]


def ensure_customer(run: Run, invoice: InvoiceSnapshot) -> bool:
    external_id = run.provider.ensure_customer(invoice, run.clock())
    run.save(
        invoice.id,
        {"step": SyncState.CUSTOMER_SYNCED.value, **SUCCEEDED},
        partial(
            links.link_customer,
            customer_id=invoice.customer.id,
            provider=run.provider.name,
            external_id=external_id,
        ),
    )
    return True


def create_invoice(run: Run, invoice: InvoiceSnapshot) -> bool:
    external_id = run.provider.create_invoice(invoice, run.now)
    run.save(
        invoice.id,
        {"step": SyncState.INVOICE_CREATED.value, "external_id": external_id, **SUCCEEDED},
    )
    return True


def add_items(run: Run, invoice: InvoiceSnapshot) -> bool:
    """One provider item per line, each saved as soon as it is made."""
    for line in invoice.lines:
        if line.provider_item_id is not None:
            continue
        item = run.provider.add_item(invoice, line, run.clock())
        run.save(
            invoice.id,
            {},
            partial(links.link_item, line_id=line.id, provider=run.provider.name, external_id=item),
        )
    run.save(invoice.id, {"step": SyncState.ITEMS_CREATED.value, **SUCCEEDED})
    return True


def _amount(amount: Decimal, currency: str) -> str:
    return money_text(amount, minor_units(currency))


def _money(amount: Decimal, currency: str) -> str:
    return f"{money_text(amount, minor_units(currency))} {currency}"


def finalize(run: Run, invoice: InvoiceSnapshot) -> bool:
    """Finalize, and stop for good if the provider's total before tax is not ours to the
    cent; keep the tax it computed (what the customer pays on top)."""
    done = run.provider.finalize(invoice)
    if done.total != invoice.total:
        theirs, ours = _money(done.total, invoice.currency), _money(invoice.total, invoice.currency)
        raise PermanentSyncError(
            f"{run.provider.label} invoice {invoice.provider_invoice_id} totals {theirs}, "
            f"ours {ours}: not collected; void the invoice once the difference is understood"
        )
    values: dict[str, Any] = {
        "step": SyncState.FINALIZED.value,
        "hosted_url": done.hosted_url,
        **SUCCEEDED,
    }
    if done.tax is not None:
        values["tax"] = done.tax
        values["tax_lines"] = [
            {
                "description": line.description,
                "rate": None if line.rate is None else str(line.rate),
                "amount": _amount(line.amount, invoice.currency),
            }
            for line in done.tax_lines
        ]
    if done.paid is not None:  # nothing to collect: the provider marks it paid at once
        _paid(run, invoice, done.paid, values)
        return False
    run.save(invoice.id, values)
    return True


def _paid(run: Run, invoice: InvoiceSnapshot, paid: Paid, values: dict[str, Any]) -> None:
    paid_at = paid.at or run.now
    run.save(
        invoice.id,
        {**values, "step": SyncState.PAID.value},
        partial(lifecycle.mark_paid, invoice_id=invoice.id, at=paid_at),
    )


def collect(run: Run, invoice: InvoiceSnapshot) -> bool:
    """Charge (a decline makes the invoice payment_failed and schedules its retry) or send,
    as the invoice says; an invoice paid outside the provider is marked paid there instead,
    and one partly paid that way is left to be paid the same way."""
    if invoice.status == InvoiceStatus.PAID:
        run.provider.paid_elsewhere(invoice)
        run.save(invoice.id, {"step": SyncState.PAID.value, **SUCCEEDED})
        return False
    if invoice.amount_paid > 0:  # the rest is paid outside too: nothing to do here
        return False
    collected = run.provider.collect(invoice)
    if isinstance(collected, Sent):
        run.save(invoice.id, {**SUCCEEDED})
    elif isinstance(collected, Declined):
        run.save(
            invoice.id,
            {},
            partial(dunning.record_decline, invoice_id=invoice.id, declined=collected, now=run.now),
        )
    else:
        _paid(run, invoice, collected, dict(SUCCEEDED))
    return False


def void(run: Run, invoice: InvoiceSnapshot) -> bool:
    """Our invoice is void: the provider voids (or deletes) its copy, if it has one."""
    run.provider.void(invoice)
    run.save(invoice.id, {"step": SyncState.VOID.value, **SUCCEEDED})
    return False


ISSUED_STEPS: dict[str, Step] = {
    SyncState.NOT_STARTED: ensure_customer,
    SyncState.CUSTOMER_SYNCED: create_invoice,
    SyncState.INVOICE_CREATED: add_items,
    SyncState.ITEMS_CREATED: finalize,
    SyncState.FINALIZED: collect,
    SyncState.FAILED: collect,  # a payment retry, due on the dunning schedule or at once
}


def next_step(invoice: InvoiceSnapshot) -> Step | None:
    """What to do next for the invoice's status and step; None when nothing is."""
    if invoice.status == InvoiceStatus.VOID:
        return None if invoice.step == SyncState.VOID else void
    if invoice.status in lifecycle.OPEN or (
        invoice.status == InvoiceStatus.PAID and invoice.step != SyncState.PAID
    ):
        return ISSUED_STEPS.get(invoice.step)
    return None
