"""Run the Stripe sync: pick due invoices, lease each, drive it through its steps.

Safe with several workers: an invoice is worked on only under a lease taken by an atomic
UPDATE, each step commits before the next one starts, and every Stripe write carries an
idempotency key, so a worker killed at any point leaves work that the next one resumes
without making anything twice in Stripe.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from dataclasses import dataclass, field
from datetime import datetime

import stripe
from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.billing.invoices.models import Invoice, InvoiceStatus, SyncState
from metering.platform.db.types import utcnow
from metering.platform.settings import Settings
from metering.providers.stripe import state
from metering.providers.stripe.client import make_client
from metering.providers.stripe.failures import (
    FailureKind,
    PermanentSyncError,
    backoff,
    classify,
    describe,
)
from metering.providers.stripe.steps import Run, next_step

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class InvoiceSyncResult:
    """How far one invoice got in this pass.

    outcome: `done` (nothing left until a webhook or an operator acts), `retry` (a
    transient failure; due again at `next_sync_at`), `error` (a permanent failure, kept in
    `sync_error`), `lease_lost` (another worker took the invoice over).
    """

    invoice_id: str
    outcome: str
    sync_state: str
    error: str | None = None


@dataclass
class SyncReport:
    enabled: bool = True
    results: list[InvoiceSyncResult] = field(default_factory=list)
    # Due invoices another worker leased between our query and our claim.
    skipped: int = 0

    def count(self, outcome: str) -> int:
        return sum(1 for result in self.results if result.outcome == outcome)

    def __str__(self) -> str:
        if not self.enabled:
            return "Stripe sync off (no stripe_api_key)"
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
        state.release(
            run.engine, invoice_id, run.owner, {}, state.done_statement(invoice_id, invoice.status)
        )
        return InvoiceSyncResult(invoice_id, "done", invoice.sync_state, None)
    except state.LeaseLost:
        logger.warning("invoice %s: lease lost to another worker", invoice_id)
        return InvoiceSyncResult(invoice_id, "lease_lost", invoice.sync_state, None)
    except (stripe.StripeError, PermanentSyncError, ValueError) as error:
        return _failed(run, invoice, error)
    except Exception as error:  # a bug or the database: keep going with the other invoices
        logger.exception("invoice %s: sync step failed", invoice_id)
        return _failed(run, invoice, error)


def _failed(run: Run, invoice: state.InvoiceSnapshot, error: Exception) -> InvoiceSyncResult:
    """Keep the error; transient ones come due again after a backoff, the rest wait for an
    operator (`retry_sync`)."""
    message = describe(error)
    kind = classify(error)
    invoice = state.load(run.engine, invoice.id)
    if kind is FailureKind.TRANSIENT:
        values = {
            "sync_error": message,
            "sync_attempts": invoice.sync_attempts + 1,
            "next_sync_at": backoff(run.now, invoice.sync_attempts, run.retry_base, run.retry_cap),
        }
        outcome = "retry"
    else:
        values = {"sync_error": message, "next_sync_at": None}
        outcome = "error"
    logger.warning("invoice %s: %s sync failure: %s", invoice.id, kind.value, message)
    try:
        state.release(run.engine, invoice.id, run.owner, values)
    except state.LeaseLost:
        return InvoiceSyncResult(invoice.id, "lease_lost", invoice.sync_state, message)
    return InvoiceSyncResult(invoice.id, outcome, invoice.sync_state, message)


def sync_due(
    engine: Engine,
    settings: Settings,
    now: datetime | None = None,
    owner: str | None = None,
    limit: int = 100,
) -> SyncReport:
    """Sync up to `limit` invoices whose next step is due; nothing without a Stripe key."""
    client = make_client(settings)
    if client is None:
        return SyncReport(enabled=False)
    run = Run(
        engine=engine,
        client=client,
        owner=owner or default_owner(),
        now=now or utcnow(),
        lease=settings.sync_lease,
        retry_base=settings.sync_retry_base,
        retry_cap=settings.sync_retry_cap,
    )
    report = SyncReport()
    for invoice_id in state.due_ids(engine, run.now, limit):
        if not state.claim(engine, invoice_id, run.owner, run.now, run.lease):
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
    finished = invoice.sync_state in (SyncState.PAID, SyncState.VOID)
    if finished or invoice.status == InvoiceStatus.PAID:
        raise SyncNotRetryable(
            f"invoice {invoice.id} is {invoice.status} and its Stripe sync is finished "
            f"({invoice.sync_state})"
        )
    if invoice.sync_state == SyncState.FAILED:
        invoice.sync_state = SyncState.FINALIZED.value
    invoice.sync_error = None
    invoice.next_sync_at = now or utcnow()
    invoice.updated_at = utcnow()
    session.add(invoice)
