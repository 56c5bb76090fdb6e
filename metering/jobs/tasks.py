"""The job functions the scheduler runs, and the process context they run in.

The job store pickles a job's function reference and arguments into the database, so the
functions take no arguments: the engine and settings (which hold the Stripe key, never to be
written to a table) come from the context the process binds when its scheduler starts.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from metering.db.types import utcnow
from metering.settings import Settings

logger = logging.getLogger(__name__)

SYNC_BATCH = 100
WEBHOOK_BATCH = 100


@dataclass(frozen=True)
class JobContext:
    """What the jobs of this process use: the database, the settings, a name for leases."""

    engine: Engine
    settings: Settings
    owner: str


_context: JobContext | None = None


def process_owner() -> str:
    """This process's name in sync leases (host and pid: unique among live workers)."""
    return f"{socket.gethostname()}:{os.getpid()}"[:80]


def bind(context: JobContext) -> None:
    """Make `context` the one this process's jobs run in."""
    global _context
    _context = context


def unbind() -> None:
    global _context
    _context = None


def current() -> JobContext:
    """The bound context; a job that runs without one is a programming error."""
    if _context is None:
        raise RuntimeError("no job context: start the jobs with metering.jobs.scheduler")
    return _context


def close_due_periods() -> None:
    """Close every period that is due now (invoices issued, corrections billed)."""
    # Imported when the job runs: invoices import much of the service, the scheduler none.
    from metering.invoices.close import close_due

    context = current()
    report = close_due(context.engine, now=utcnow())
    logger.info(
        "close_due_periods: %d invoices issued, %d periods corrected, %d left to another process",
        len(report.invoices),
        report.corrected_periods,
        report.skipped,
    )


def sync_invoices() -> None:
    """Push due invoices to Stripe; failed steps come due again through their backoff.

    Passes of `SYNC_BATCH` follow each other while they come back full, so a close that
    issued thousands of invoices is synced in this run, not a batch per interval.
    """
    context = current()
    if context.settings.stripe_api_key is None:
        logger.debug("sync_invoices: no Stripe API key, nothing to do")
        return
    from metering.stripe_sync.sync import sync_due

    seen: set[str] = set()
    while True:
        report = sync_due(context.engine, context.settings, owner=context.owner, limit=SYNC_BATCH)
        logger.info("sync_invoices: %s", report)
        handled = {result.invoice_id for result in report.results}
        if len(report.results) + report.skipped < SYNC_BATCH or handled <= seen:
            return
        seen |= handled


def deliver_webhooks() -> None:
    """Send the outbound webhook deliveries that are due (new ones and retries).

    Passes follow each other while they come back full, like `sync_invoices`.
    """
    from metering.webhooks_out.delivery import deliver_due

    context = current()
    while True:
        report = deliver_due(
            context.engine, context.settings, owner=context.owner, limit=WEBHOOK_BATCH
        )
        if report.results:
            logger.info("deliver_webhooks: %s", report)
        if len(report.results) < WEBHOOK_BATCH:
            return


def evaluate_alerts() -> None:
    """Fire the alert rules (and plan maximums that notify) crossed since the last run."""
    from metering.alerts.evaluation import evaluate

    context = current()
    fired = evaluate(context.engine, now=utcnow())
    if fired:
        logger.info("evaluate_alerts: %d alerts fired", len(fired))
