"""The jobs every `metering serve` and `metering worker` process runs, and how often.

Several processes may run them against one database: each is safe to run twice (closing
claims subscription rows and the (customer, period) unique key, the payment sync leases each
invoice, webhook deliveries are leased). The functions take no arguments: what they use comes
from the process's job context (`metering.platform.jobs.context`), and each records its runs
under its job id (`@recorded`), which `/readyz` and `metering worker` watch.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from apscheduler.schedulers.background import BackgroundScheduler

from metering.billing.credit_purchases import top_up
from metering.billing.credit_purchases.service import providers_of
from metering.billing.credits.expiry import expire_due
from metering.billing.invoices.close import close_due
from metering.billing.invoices.thresholds import invoice_thresholds
from metering.notify.alerts.evaluation import evaluate
from metering.notify.credit_notices import evaluation as credit_notices
from metering.notify.webhooks.delivery import deliver_due
from metering.platform.db.types import utcnow
from metering.platform.jobs import scheduler
from metering.platform.jobs.context import current, recorded
from metering.platform.settings import Settings
from metering.surfaces.providers import sync_due

logger = logging.getLogger(__name__)

SYNC_BATCH = 100
WEBHOOK_BATCH = 100

CLOSE_JOB_ID = "close_due_periods"
SYNC_JOB_ID = "sync_invoices"
WEBHOOKS_JOB_ID = "deliver_webhooks"
ALERTS_JOB_ID = "evaluate_alerts"
EXPIRY_JOB_ID = "expire_credits"


@recorded(CLOSE_JOB_ID)
def close_due_periods() -> None:
    """Close every period that is due now (invoices issued, corrections billed), issue the
    interim invoices of open periods at their threshold, then check the automatic top-ups of
    the customers invoiced (their credits were just drawn)."""
    context = current()
    now = utcnow()
    report = close_due(context.engine, now=now)
    interims = invoice_thresholds(context.engine, now)
    closed = {invoice.customer_id for invoice in [*report.invoices, *interims]}
    top_up.after_close(context.engine, closed, providers_of(context.settings), now)
    logger.info(
        "close_due_periods: %d invoices issued, %d periods corrected, %d left to another process, "
        "%d interim invoices",
        len(report.invoices),
        report.corrected_periods,
        report.skipped,
        len(interims),
    )


@recorded(SYNC_JOB_ID)
def sync_invoices() -> None:
    """Push due invoices to their payment providers (manual, and Stripe with a key); failed
    steps come due again through their backoff, failed payments on their retry schedule.

    Passes of `SYNC_BATCH` follow each other while they come back full, so a close that
    issued thousands of invoices is synced in this run, not a batch per interval.
    """
    context = current()
    seen: set[str] = set()
    while True:
        report = sync_due(context.engine, context.settings, owner=context.owner, limit=SYNC_BATCH)
        logger.info("sync_invoices: %s", report)
        handled = {result.invoice_id for result in report.results}
        if len(report.results) + report.skipped < SYNC_BATCH or handled <= seen:
            return
        seen |= handled


@recorded(WEBHOOKS_JOB_ID)
def deliver_webhooks() -> None:
    """Send the outbound webhook deliveries that are due (new ones and retries).

    Passes follow each other while they come back full, like `sync_invoices`.
    """
    context = current()
    while True:
        report = deliver_due(
            context.engine, context.settings, owner=context.owner, limit=WEBHOOK_BATCH
        )
        if report.results:
            logger.info("deliver_webhooks: %s", report)
        if len(report.results) < WEBHOOK_BATCH:
            return


@recorded(ALERTS_JOB_ID)
def evaluate_alerts() -> None:
    """Fire the alert rules (and plan maximums that notify) crossed since the last run, and
    the credit notices (low, depleted, expiring, expired) that became true."""
    context = current()
    now = utcnow()
    fired = evaluate(context.engine, now=now)
    if fired:
        logger.info("evaluate_alerts: %d alerts fired", len(fired))
    told = credit_notices.evaluate(context.engine, now)
    if told:
        logger.info("evaluate_alerts: %d credit notices sent", len(told))


@recorded(EXPIRY_JOB_ID)
def expire_credits() -> None:
    """Credit grants past their expiry, whose periods are all closed, give up what is left."""
    context = current()
    expired = expire_due(context.engine, now=utcnow())
    if expired:
        logger.info("expire_credits: %d grants expired", expired)


def jobs_of(settings: Settings) -> list[scheduler.Job]:
    """Every job with the interval `settings` gives it."""
    return [
        scheduler.Job(CLOSE_JOB_ID, close_due_periods, settings.jobs_close_interval),
        scheduler.Job(SYNC_JOB_ID, sync_invoices, settings.jobs_sync_interval),
        scheduler.Job(WEBHOOKS_JOB_ID, deliver_webhooks, settings.jobs_webhooks_interval),
        scheduler.Job(ALERTS_JOB_ID, evaluate_alerts, settings.jobs_alerts_interval),
        scheduler.Job(EXPIRY_JOB_ID, expire_credits, settings.jobs_expiry_interval),
    ]


@contextmanager
def running_jobs(settings: Settings) -> Iterator[BackgroundScheduler]:
    """Every job running in background threads of this process for the block's duration."""
    with scheduler.running_jobs(settings, jobs_of(settings)) as running:
        yield running
