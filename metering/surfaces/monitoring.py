"""`GET /metrics`: the processes' counters and, read from the database at each scrape, the
gauges every process agrees on (jobs, webhook backlog, payment links).

The gauges are a few aggregate queries, so whichever worker answers gives the same numbers,
and a job run by a `metering worker` on another machine is seen here. When the database
does not answer, the counters are still exposed and `metering_database_up` is 0.

Not in the OpenAPI document (it is for Prometheus, not for vendors) and without
authentication, like Prometheus endpoints usually are: it names no vendor and no customer,
only routes, jobs, providers and currencies (see README, Monitoring).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime

import sqlalchemy as sa
from fastapi import APIRouter, Request, Response
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy.engine import Connection, Engine

from metering.billing.payments.models import InvoicePaymentLink, SyncState
from metering.platform.db.session import get_engine
from metering.platform.db.types import utcnow
from metering.platform.jobs.runs import error_text, overdue, recorded_runs
from metering.platform.monitoring import metrics
from metering.platform.outbox.models import DeliveryStatus, WebhookDelivery

logger = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

# The classic text format, which every Prometheus version reads.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
NO_PROVIDER = "none"

_DELIVERIES: sa.Table = WebhookDelivery.__table__  # type: ignore[attr-defined]
_LINKS: sa.Table = InvoicePaymentLink.__table__  # type: ignore[attr-defined]


def _seconds(since: datetime, now: datetime) -> float:
    return max((now - since).total_seconds(), 0.0)


def job_gauges(connection: Connection, now: datetime) -> Iterator[Metric]:
    since_success = GaugeMetricFamily(
        "metering_job_seconds_since_last_success",
        "Seconds since the job last succeeded in any process (since it was first scheduled "
        "when it never has).",
        labels=["job_id"],
    )
    interval = GaugeMetricFamily(
        "metering_job_interval_seconds", "The interval the job is scheduled at.", labels=["job_id"]
    )
    late = GaugeMetricFamily(
        "metering_job_overdue",
        "1 when the job has gone three intervals without a success (/readyz answers 503).",
        labels=["job_id"],
    )
    for run in recorded_runs(connection):
        since = max(run.scheduled_at, run.last_succeeded_at or run.scheduled_at)
        since_success.add_metric([run.job_id], _seconds(since, now))
        interval.add_metric([run.job_id], run.interval_seconds)
        late.add_metric([run.job_id], 1.0 if overdue(run, now) else 0.0)
    yield from (since_success, interval, late)


def webhook_gauges(connection: Connection, now: datetime) -> Iterator[Metric]:
    d = _DELIVERIES.c
    rows = connection.execute(
        sa.select(d.status, sa.func.count(), sa.func.min(d.created_at))
        .where(d.status.in_([DeliveryStatus.PENDING.value, DeliveryStatus.FAILED.value]))
        .group_by(d.status)
    ).all()
    found = {status: (count, oldest) for status, count, oldest in rows}
    pending, oldest = found.get(DeliveryStatus.PENDING.value, (0, None))
    failed, _ = found.get(DeliveryStatus.FAILED.value, (0, None))
    yield GaugeMetricFamily(
        "metering_webhook_deliveries_pending",
        "Outbound webhook deliveries not yet delivered (due, retrying, or waiting for a "
        "disabled endpoint).",
        value=pending,
    )
    yield GaugeMetricFamily(
        "metering_webhook_oldest_pending_age_seconds",
        "Age of the oldest pending delivery (0 when none is pending).",
        value=_seconds(oldest, now) if oldest is not None else 0.0,
    )
    yield GaugeMetricFamily(
        "metering_webhook_deliveries_failed",
        "Deliveries given up after their retry window (until retried by hand).",
        value=failed,
    )


def payment_gauges(connection: Connection) -> Iterator[Metric]:
    link = _LINKS.c
    has_error = link.error.is_not(None)
    retrying = sa.and_(has_error, link.next_attempt_at.is_not(None))
    rows = connection.execute(
        sa.select(
            link.provider,
            link.step,
            sa.func.count(),
            sa.func.sum(sa.case((retrying, 1), else_=0)),
            sa.func.sum(sa.case((sa.and_(has_error, link.next_attempt_at.is_(None)), 1), else_=0)),
        ).group_by(link.provider, link.step)
    ).all()
    links = GaugeMetricFamily(
        "metering_payment_links",
        "Issued invoices by payment provider (`none` until one takes it) and sync state.",
        labels=["provider", "state"],
    )
    errors = GaugeMetricFamily(
        "metering_payment_sync_errors",
        "Invoices whose sync last failed: `retrying` (due again after a backoff) or "
        "`stopped` (waits for an operator's retry_sync).",
        labels=["provider", "kind"],
    )
    counts: dict[tuple[str, str], int] = {}
    failing: dict[tuple[str, str], int] = {}
    for provider, step, count, retry, stopped in rows:
        name = provider or NO_PROVIDER
        counts[(name, step)] = counts.get((name, step), 0) + int(count)
        failing[(name, "retrying")] = failing.get((name, "retrying"), 0) + int(retry or 0)
        failing[(name, "stopped")] = failing.get((name, "stopped"), 0) + int(stopped or 0)
    for provider in sorted({name for name, _ in counts}):
        for state in SyncState:
            links.add_metric([provider, state.value], counts.get((provider, state.value), 0))
        for kind in ("retrying", "stopped"):
            errors.add_metric([provider, kind], failing.get((provider, kind), 0))
    yield from (links, errors)


class StoredGauges:
    """The gauges read from the database, at each collection."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "metering_database_up", "1 when the database answered this scrape's queries."
        )
        now = utcnow()
        try:
            with self._engine.connect() as connection:
                gauges = [
                    *job_gauges(connection, now),
                    *webhook_gauges(connection, now),
                    *payment_gauges(connection),
                ]
        except sa.exc.SQLAlchemyError as error:
            logger.warning("metrics: the database did not answer: %s", error_text(error))
            up.add_metric([], 0.0)
            yield up
            return
        up.add_metric([], 1.0)
        yield up
        yield from gauges


@router.get("/metrics")
def prometheus_metrics(request: Request) -> Response:
    """Prometheus text exposition of every metric (README, Monitoring)."""
    body = metrics.exposition(StoredGauges(get_engine(request)))
    return Response(body, headers={"Content-Type": CONTENT_TYPE})
