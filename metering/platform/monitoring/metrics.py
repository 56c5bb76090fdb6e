"""The counters and histograms of this process, and their exposition for `/metrics`.

Things are counted where they happen (an ingestion answer, a request, a job run, a payment
sync pass, a webhook attempt, an invoice issued) through the `count_*` functions here, so
each call site is one line and never fails because of a metric. Every metric has labels and
every label a bounded set of values (a door, a route template, a job id, a provider, a
currency; never a vendor or a customer id), so the number of series stays small.

Several processes: `metering serve --workers N` runs N uvicorn processes and the jobs in
their supervisor. `shared_between_processes` makes them all keep their counts in one
directory of memory-mapped files (prometheus_client's multiprocess mode), and
`exposition` then adds up every process's files, whichever worker answers the scrape. A
worker that dies keeps its file: its counts stay in the totals, as counters must (there are
no per-process gauges here to mark dead; gauges are read from the database at scrape time).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    start_http_server,
    values,
)
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import event
from sqlalchemy.orm import Session

logger = logging.getLogger(__name__)

# prometheus_client's own variable: the directory of every process's counts.
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"

# `*_created` series only double the exposition: rates need the counters alone.
disable_created_metrics()  # type: ignore[no-untyped-call]
REGISTRY = CollectorRegistry()

EVENTS_INGESTED = Counter(
    "metering_events_ingested",
    "Events received, by door (api, webhook) and what became of each: accepted (stored), "
    "duplicate (already stored, same content), conflict (id stored with other content), "
    "rejected (invalid).",
    ["door", "status"],
    registry=REGISTRY,
)
HTTP_REQUEST_DURATION = Histogram(
    "metering_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by method, route template "
    "(`unmatched` when no route) and status class.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
JOB_RUNS = Counter(
    "metering_job_runs",
    "Runs of each background job, by result (success, failure).",
    ["job_id", "result"],
    registry=REGISTRY,
)
PAYMENT_SYNCS = Counter(
    "metering_payment_sync_results",
    "Invoices driven through their payment provider's sync, by how far they got: done, "
    "retry (transient failure, due again after a backoff), error (stopped for an operator), "
    "lease_lost (another worker took over).",
    ["provider", "outcome"],
    registry=REGISTRY,
)
WEBHOOK_ATTEMPTS = Counter(
    "metering_webhook_attempts",
    "Outbound webhook POSTs, by result: delivered (2xx), retry (failed, tried again later), "
    "gave_up (failed at the end of the retry window), lease_lost (sent again elsewhere).",
    ["result"],
    registry=REGISTRY,
)
INVOICES_ISSUED = Counter(
    "metering_invoices_issued",
    "Invoices issued, by currency.",
    ["currency"],
    registry=REGISTRY,
)
INVOICED_AMOUNT = Counter(
    "metering_invoices_issued_amount",
    "Total of the invoices issued, by currency, in major units (dollars, euros).",
    ["currency"],
    registry=REGISTRY,
)
METRICS: Sequence[MetricWrapperBase] = (
    EVENTS_INGESTED,
    HTTP_REQUEST_DURATION,
    JOB_RUNS,
    PAYMENT_SYNCS,
    WEBHOOK_ATTEMPTS,
    INVOICES_ISSUED,
    INVOICED_AMOUNT,
)

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# A delivery's status after an attempt -> the attempt's result.
_WEBHOOK_RESULTS = {"delivered": "delivered", "pending": "retry", "failed": "gave_up"}


def _safely(count: Callable[[], None]) -> None:
    """A metric never fails the work it counts."""
    try:
        count()
    except Exception:
        logger.exception("could not update a metric")


def count_ingested(
    door: str, *, accepted: int, duplicates: int, conflicts: int, rejected: int
) -> None:
    """One ingestion answer's items."""

    def count() -> None:
        for status, number in (
            ("accepted", accepted),
            ("duplicate", duplicates),
            ("conflict", conflicts),
            ("rejected", rejected),
        ):
            if number:
                EVENTS_INGESTED.labels(door, status).inc(number)

    _safely(count)


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    method = method if method in METHODS else "other"
    _safely(
        lambda: HTTP_REQUEST_DURATION.labels(method, route, f"{status // 100}xx").observe(seconds)
    )


def count_job_run(job_id: str, succeeded: bool) -> None:
    _safely(lambda: JOB_RUNS.labels(job_id, "success" if succeeded else "failure").inc())


def count_payment_syncs(provider: str, outcomes: Iterable[str]) -> None:
    """The outcome of each invoice one sync pass worked on."""

    def count() -> None:
        for outcome in outcomes:
            PAYMENT_SYNCS.labels(provider, outcome).inc()

    _safely(count)


def count_webhook_attempts(statuses: Iterable[str]) -> None:
    """Each attempt of a delivery pass, by the status it left its delivery in."""

    def count() -> None:
        for status in statuses:
            WEBHOOK_ATTEMPTS.labels(_WEBHOOK_RESULTS.get(status, status)).inc()

    _safely(count)


def count_issued(session: Session, invoices: Iterable[tuple[str, Decimal]]) -> None:
    """Invoices (currency, total) issued in `session`'s transaction, counted once it commits."""
    issued = list(invoices)

    def count() -> None:
        for currency, total in issued:
            INVOICES_ISSUED.labels(currency).inc()
            # Decimal stays the money type; the float is only the metric's.
            INVOICED_AMOUNT.labels(currency).inc(float(max(total, Decimal(0))))

    on_commit(session, count)


_ON_COMMIT = "metering.monitoring.on_commit"


def on_commit(session: Session, action: Callable[[], None]) -> None:
    """Run `action` after `session`'s transaction commits, never if it rolls back (an error
    in it is logged: the transaction is already committed)."""
    session.info.setdefault(_ON_COMMIT, []).append(action)


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    for action in session.info.pop(_ON_COMMIT, []):
        _safely(action)


@event.listens_for(Session, "after_rollback")
def _rolled_back(session: Session) -> None:
    session.info.pop(_ON_COMMIT, None)


@contextmanager
def shared_between_processes() -> Iterator[Path]:
    """Every process started in the block (and this one) counts into one fresh directory,
    removed at the end.

    prometheus_client picks its multiprocess mode from `PROMETHEUS_MULTIPROC_DIR` when it is
    imported; this process imported it long before the command ran, so the value class is
    switched here too. Every metric has labels, so no value exists before its first use,
    and the values made inside the block are dropped when it ends.
    """
    directory = Path(tempfile.mkdtemp(prefix="metering-metrics-"))
    previous = os.environ.pop(MULTIPROCESS_DIR, None)
    value_class = values.ValueClass
    _drop_values()
    os.environ[MULTIPROCESS_DIR] = str(directory)
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
    try:
        yield directory
    finally:
        values.ValueClass = value_class
        os.environ.pop(MULTIPROCESS_DIR, None)
        _drop_values()
        if previous is not None:
            os.environ[MULTIPROCESS_DIR] = previous
        shutil.rmtree(directory, ignore_errors=True)


def _drop_values() -> None:
    """Forget every labelled value, so the next use makes one of the current value class
    (while no directory is set: prometheus_client warns about clearing in one)."""
    for metric in METRICS:
        metric.clear()


class _Joined:
    """Several collectors read as one."""

    def __init__(self, collectors: Sequence[Collector]) -> None:
        self._collectors = collectors

    def collect(self) -> Iterator[Any]:
        for collector in self._collectors:
            yield from collector.collect()


def counted() -> Collector:
    """This process's counts, or every process's when they share a directory."""
    directory = os.environ.get(MULTIPROCESS_DIR)
    if directory:
        collector: Collector = MultiProcessCollector(None, directory)  # type: ignore[no-untyped-call]
        return collector
    return REGISTRY


def exposition(*collectors: Collector) -> bytes:
    """The text exposition of the counts and of `collectors` (read now)."""
    return generate_latest(_Joined((counted(), *collectors)))


@contextmanager
def served(host: str, port: int) -> Iterator[str]:
    """The counts served over HTTP on `host:port` for the block (a `metering worker`, which
    has no API); the URL to scrape."""
    server, thread = start_http_server(port, host, registry=_Joined((counted(),)))
    try:
        yield f"http://{host}:{server.server_port}/metrics"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
