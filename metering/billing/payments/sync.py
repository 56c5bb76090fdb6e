"""Run the payment sync: pick due invoices, lease each, drive it through its steps.

An issued invoice moves not_started -> customer_synced -> invoice_created -> items_created
-> finalized -> paid | failed at its provider (a sent invoice stays finalized: its payment
comes back by webhook); a void invoice moves to void from any step. Each step commits
before the next, under a lease taken by an atomic UPDATE, and every provider call is safe
to repeat, so a worker killed at any point leaves work that the next one resumes without
making anything twice. The provider's total must equal ours to the cent before anything is
collected. Transient failures come due again after a backoff; the rest wait for an
operator (`retry_sync`).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.billing.invoices import lifecycle
from metering.billing.invoices.models import Invoice, InvoiceStatus
from metering.billing.payments import links, state
from metering.billing.payments.backoff import backoff
from metering.billing.payments.models import SyncState
from metering.billing.payments.protocol import (
    Declined,
    Failure,
    FailureKind,
    InvoiceSnapshot,
    Paid,
    PaymentProvider,
    PermanentSyncError,
    Sent,
)
from metering.platform.db.types import utcnow
from pricing_rules.engine import money_text
from pricing_rules.money import minor_units

logger = logging.getLogger(__name__)


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
    external_id = run.provider.ensure_customer(invoice)
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
        item = run.provider.add_item(invoice, line)
        run.save(
            invoice.id,
            {},
            partial(links.link_item, line_id=line.id, provider=run.provider.name, external_id=item),
        )
    run.save(invoice.id, {"step": SyncState.ITEMS_CREATED.value, **SUCCEEDED})
    return True


def _money(amount: Decimal, currency: str) -> str:
    return f"{money_text(amount, minor_units(currency))} {currency}"


def finalize(run: Run, invoice: InvoiceSnapshot) -> bool:
    """Finalize, and stop for good if the provider's total is not ours to the cent."""
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
    """Charge (a decline makes the invoice payment_failed) or send, as the invoice says."""
    collected = run.provider.collect(invoice)
    if isinstance(collected, Sent):
        run.save(invoice.id, {**SUCCEEDED})
    elif isinstance(collected, Declined):
        run.save(
            invoice.id,
            {
                "step": SyncState.FAILED.value,
                "error": collected.reason,
                "attempts": invoice.attempts + 1,
            },
            partial(lifecycle.mark_failed, invoice_id=invoice.id),
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
}


def next_step(invoice: InvoiceSnapshot) -> Step | None:
    """What to do next for the invoice's status and step; None when nothing is."""
    if invoice.status == InvoiceStatus.VOID:
        return None if invoice.step == SyncState.VOID else void
    if invoice.status in lifecycle.OPEN:
        return ISSUED_STEPS.get(invoice.step)
    return None


@dataclass(frozen=True)
class InvoiceSyncResult:
    """How far one invoice got in this pass.

    outcome: `done` (nothing left until a webhook or an operator acts), `retry` (a
    transient failure; due again at its `next_attempt_at`), `error` (a permanent failure,
    kept as the link's error), `lease_lost` (another worker took the invoice over).
    """

    invoice_id: str
    outcome: str
    sync_state: str
    error: str | None = None


@dataclass
class SyncReport:
    # Why nothing was synced (no provider configured), or None.
    off: str | None = None
    results: list[InvoiceSyncResult] = field(default_factory=list)
    # Due invoices another worker leased between our query and our claim.
    skipped: int = 0

    @property
    def enabled(self) -> bool:
        return self.off is None

    def count(self, outcome: str) -> int:
        return sum(1 for result in self.results if result.outcome == outcome)

    def __str__(self) -> str:
        if self.off is not None:
            return self.off
        outcomes = ("done", "retry", "error", "lease_lost")
        counts = ", ".join(f"{name} {self.count(name)}" for name in outcomes)
        return f"{len(self.results)} invoices synced ({counts}), {self.skipped} held elsewhere"


def default_owner() -> str:
    """A lease owner name unique to this process."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def sync_invoice(run: Run, invoice_id: str) -> InvoiceSyncResult:
    """Drive one leased invoice as far as it goes now; always releases the lease."""
    invoice = state.load(run.engine, invoice_id)
    try:
        while (step := next_step(invoice)) is not None:
            go_on = step(run, invoice)
            invoice = state.load(run.engine, invoice_id)
            if not go_on:
                break
        state.release(run.engine, invoice_id, run.owner, {}, state.done(invoice_id, invoice.status))
        return InvoiceSyncResult(invoice_id, "done", invoice.step, None)
    except state.LeaseLost:
        logger.warning("invoice %s: lease lost to another worker", invoice_id)
        return InvoiceSyncResult(invoice_id, "lease_lost", invoice.step, None)
    except Exception as error:
        return _failed(run, invoice, _failure(run.provider, invoice_id, error))


def _failure(provider: PaymentProvider, invoice_id: str, error: Exception) -> Failure:
    """The provider says what its own errors mean; ours are permanent (a bug or the database
    is logged in full, and the other invoices go on)."""
    if isinstance(error, PermanentSyncError):
        return Failure(FailureKind.PERMANENT, str(error))
    failure = provider.failure(error)
    if failure is not None:
        return failure
    if not isinstance(error, ValueError):
        logger.exception("invoice %s: sync step failed", invoice_id, exc_info=error)
    return Failure(FailureKind.PERMANENT, f"{type(error).__name__}: {error}")


def _failed(run: Run, invoice: InvoiceSnapshot, failure: Failure) -> InvoiceSyncResult:
    """Keep the error; transient ones come due again after a backoff."""
    invoice = state.load(run.engine, invoice.id)
    values: dict[str, Any] = {"error": failure.message, "next_attempt_at": None}
    outcome = "error"
    if failure.kind is FailureKind.TRANSIENT:
        values["attempts"] = invoice.attempts + 1
        values["next_attempt_at"] = backoff(
            run.now, invoice.attempts, run.retry_base, run.retry_cap
        )
        outcome = "retry"
    logger.warning("invoice %s: %s sync failure: %s", invoice.id, failure.kind, failure.message)
    try:
        state.release(run.engine, invoice.id, run.owner, values)
    except state.LeaseLost:
        return InvoiceSyncResult(invoice.id, "lease_lost", invoice.step, failure.message)
    return InvoiceSyncResult(invoice.id, outcome, invoice.step, failure.message)


@dataclass(frozen=True)
class SyncSettings:
    """How long a lease holds, and the backoff of transient failures."""

    lease: timedelta
    retry_base: timedelta
    retry_cap: timedelta


def sync_due(
    engine: Engine,
    provider: PaymentProvider,
    settings: SyncSettings,
    now: datetime | None = None,
    owner: str | None = None,
    limit: int = 100,
) -> SyncReport:
    """Sync up to `limit` invoices whose next step is due."""
    run = Run(
        engine=engine,
        provider=provider,
        owner=owner or default_owner(),
        now=now or utcnow(),
        lease=settings.lease,
        retry_base=settings.retry_base,
        retry_cap=settings.retry_cap,
    )
    report = SyncReport()
    for invoice_id in state.due_ids(engine, provider.name, run.now, limit):
        if not state.claim(engine, invoice_id, provider.name, run.owner, run.now, run.lease):
            report.skipped += 1
            continue
        report.results.append(sync_invoice(run, invoice_id))
    return report


class SyncNotRetryable(ValueError):
    """The invoice has nothing to retry (a draft, or its sync finished)."""


def retry_sync(session: Session, invoice: Invoice, now: datetime | None = None) -> None:
    """Make the invoice's sync due now (the caller commits): clears the error; after a
    declined payment, payment is attempted again."""
    if invoice.status == InvoiceStatus.DRAFT:
        raise SyncNotRetryable(f"invoice {invoice.id} is a draft: it syncs once issued")
    link = links.of_invoices(session, [invoice.id]).get(invoice.id)
    step = link.step if link is not None else SyncState.NOT_STARTED.value
    if step in (SyncState.PAID, SyncState.VOID) or invoice.status == InvoiceStatus.PAID:
        provider = link.provider.capitalize() if link is not None and link.provider else "payment"
        raise SyncNotRetryable(
            f"invoice {invoice.id} is {invoice.status} and its {provider} sync is finished ({step})"
        )
    if step == SyncState.FAILED:
        step = SyncState.FINALIZED.value
    links.make_due(session, invoice.id, now or utcnow())
    links.update(session, invoice.id, step=step, error=None)
