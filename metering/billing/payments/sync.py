"""Run the payment sync: pick due invoices, lease each, drive it through its steps.

Safe with several workers: an invoice is worked on only under a lease on its payment link,
taken by an atomic UPDATE; each step commits before the next (`steps`), and every provider
call is safe to repeat, so a worker killed at any point leaves work that the next one
resumes without making anything twice. Transient failures (as the provider judges its own
errors) come due again after a backoff; the rest wait for an operator (`retry_sync`).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.billing.invoices.models import Invoice, InvoiceStatus
from metering.billing.payments import links, state
from metering.billing.payments.backoff import backoff
from metering.billing.payments.models import SyncState
from metering.billing.payments.protocol import (
    Failure,
    FailureKind,
    InvoiceSnapshot,
    PaymentProvider,
    PermanentSyncError,
)
from metering.billing.payments.steps import Run, next_step
from metering.platform.db.types import utcnow
from metering.platform.monitoring import metrics

logger = logging.getLogger(__name__)


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
    # Providers that did not run, and why (Stripe without a key): their invoices wait.
    off: list[str] = field(default_factory=list)
    results: list[InvoiceSyncResult] = field(default_factory=list)
    # Due invoices another worker leased between our query and our claim.
    skipped: int = 0

    def count(self, outcome: str) -> int:
        return sum(1 for result in self.results if result.outcome == outcome)

    def __str__(self) -> str:
        outcomes = ("done", "retry", "error", "lease_lost")
        counts = ", ".join(f"{name} {self.count(name)}" for name in outcomes)
        text = f"{len(self.results)} invoices synced ({counts}), {self.skipped} held elsewhere"
        return "; ".join([text, *self.off])


def default_owner() -> str:
    """A lease owner name unique to this process."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def sync_invoice(run: Run, invoice_id: str) -> InvoiceSyncResult:
    """Drive one leased invoice as far as it goes now; always releases the lease."""
    invoice = state.load(run.engine, invoice_id)
    due = invoice.next_attempt_at
    try:
        while (step := next_step(invoice)) is not None:
            go_on = step(run, invoice)
            voided = invoice.status != InvoiceStatus.VOID
            invoice = state.load(run.engine, invoice_id)
            # A step whose outcome voided the invoice (an automatic top-up's purchase that
            # became uncollectible) goes on to void the provider's copy in this pass.
            voided = voided and invoice.status == InvoiceStatus.VOID
            if not go_on and not voided:
                break
        finished = state.done(invoice_id, invoice.status, due)
        state.release(run.engine, invoice_id, run.owner, {}, finished)
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
    """Keep the error; transient ones come due again after a backoff. After a definite
    answer the next attempt is a new request at the provider (`key_round` moves on); after a
    lost one it asks again under the same key."""
    invoice = state.load(run.engine, invoice.id)
    values: dict[str, Any] = {"error": failure.message, "next_attempt_at": None}
    if failure.answered:
        values["key_round"] = invoice.key_round + 1
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
    metrics.count_payment_syncs(provider.name, [result.outcome for result in report.results])
    return report


class SyncNotRetryable(ValueError):
    """The invoice has nothing to retry (a draft, or its sync finished)."""


def retry_sync(session: Session, invoice: Invoice, now: datetime | None = None) -> None:
    """Make the invoice's sync due now (the caller commits): clears the error; after a
    declined payment, payment is attempted again (a new request: `dunning.retry_now` does
    the same for a customer's failed payments)."""
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
