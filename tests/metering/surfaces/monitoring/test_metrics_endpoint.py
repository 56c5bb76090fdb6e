"""`GET /metrics` after doing each thing an operator watches: the right series move by the
right amounts, and no vendor or customer id ever appears in a label."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.catalog.vendors.credentials import new_signing_secret
from metering.notify.webhooks.delivery import deliver_due
from metering.platform.db.ids import new_id
from metering.platform.db.types import utcnow
from metering.platform.jobs import context
from metering.platform.jobs.context import recorded
from metering.platform.jobs.runs import JobRuns
from metering.platform.outbox.models import WebhookEndpoint
from metering.platform.outbox.service import enqueue
from metering.platform.settings import Settings
from metering.surfaces.app import create_app
from metering.surfaces.jobs import CLOSE_JOB_ID, close_due_periods
from tests.metering.billing.invoices.helpers import (
    OCTOBER,
    RULES,
    at,
    close,
    deal,
    resolution,
    send,
)
from tests.metering.billing.payments.test_sync import MemoryProvider
from tests.metering.billing.payments.test_sync import run as sync
from tests.metering.conftest import VendorFixture, create_customer, create_plan
from tests.metering.ledger.events.helpers import auth, resolved, signed
from tests.metering.providers.stripe.factory import billing, issued_invoice
from tests.metering.surfaces.monitoring.helpers import moved, scrape, value

CUSTOMER = "acme-7f3k"
INGESTED = "metering_events_ingested_total"


def test_an_ingested_batch_moves_the_counters_of_its_door_by_status(
    app_client: Any, vendor: VendorFixture, plan_id: str
) -> None:
    batch = {
        "events": [
            resolved("e-1", "c-1", customer=CUSTOMER),
            resolved("e-2", "c-2", customer=CUSTOMER),
            resolved("e-1", "c-1", customer=CUSTOMER),  # the same again: a duplicate
            resolved("e-2", "c-9", customer=CUSTOMER),  # e-2 with other content: a conflict
            {"id": "e-3", "customer": CUSTOMER},  # no type, no timestamp: rejected
        ]
    }
    before = scrape(app_client)

    first = app_client.post("/v1/events", json=batch, headers=auth(vendor.api_key)).json()
    again = app_client.post("/v1/events", json=batch, headers=auth(vendor.api_key)).json()

    assert (first["accepted"], first["duplicates"], len(first["rejected"])) == (2, 1, 2)
    assert (again["accepted"], again["duplicates"], len(again["rejected"])) == (0, 3, 2)
    after = scrape(app_client)
    api = {
        status: moved(before, after, INGESTED, door="api", status=status)
        for status in ("accepted", "duplicate", "conflict", "rejected")
    }
    assert api == {"accepted": 2, "duplicate": 4, "conflict": 2, "rejected": 2}
    assert moved(before, after, INGESTED, door="webhook", status="accepted") == 0


def test_the_webhook_door_counts_single_events_even_when_refused(
    app_client: Any, vendor: VendorFixture, plan_id: str
) -> None:
    before = scrape(app_client)
    url = f"/v1/webhooks/{vendor.id}/events"
    good = json.dumps(resolved("w-1", "c-1", customer=CUSTOMER)).encode()
    bad = json.dumps({"id": "w-2", "type": "conversation.resolved"}).encode()

    stored = app_client.post(url, content=good, headers=signed(vendor.signing_secret, good))
    refused = app_client.post(url, content=bad, headers=signed(vendor.signing_secret, bad, "m2"))

    assert (stored.status_code, refused.status_code) == (201, 422)
    after = scrape(app_client)
    assert moved(before, after, INGESTED, door="webhook", status="accepted") == 1
    assert moved(before, after, INGESTED, door="webhook", status="rejected") == 1
    assert moved(before, after, INGESTED, door="api", status="accepted") == 0


def test_requests_are_timed_by_route_template_never_by_raw_path(
    engine: Engine, app_client: Any, vendor: VendorFixture
) -> None:
    customer_id = create_customer(engine, vendor.id, CUSTOMER)
    route = "/v1/customers/{customer_id}"
    before = scrape(app_client)

    found = app_client.get(f"/v1/customers/{customer_id}", headers=auth(vendor.api_key))
    missing = app_client.get("/v1/customers/cus_nobody", headers=auth(vendor.api_key))
    nowhere = app_client.get(f"/v1/nowhere/{customer_id}")

    assert (found.status_code, missing.status_code, nowhere.status_code) == (200, 404, 404)
    after = scrape(app_client)
    count = "metering_http_request_duration_seconds_count"
    assert moved(before, after, count, method="GET", route=route, status="2xx") == 1
    assert moved(before, after, count, method="GET", route=route, status="4xx") == 1
    assert moved(before, after, count, method="GET", route="unmatched", status="4xx") == 1
    text = app_client.get("/metrics").text
    assert customer_id not in text and CUSTOMER not in text and vendor.id not in text


def test_a_close_counts_its_invoices_and_their_amounts_by_currency(
    engine: Engine, app_client: Any, vendor: VendorFixture
) -> None:
    """acme: 4 resolutions (2 free, 2 x 0.99) + 15.00 on a 1,000 deal + 20.00 flat = 36.98;
    globex: 1 free resolution + 20.00 flat, topped up to the 25.00 minimum."""
    plan = create_plan(engine, vendor.id, RULES)
    create_customer(engine, vendor.id, "acme", plan, starts_at=OCTOBER)
    create_customer(engine, vendor.id, "globex", plan, starts_at=OCTOBER)
    events = [resolution(f"r-{day}", at(day), f"c-{day}") for day in (10, 11, 12, 13)]
    events += [deal("d-1", at(14), "1000"), resolution("g-1", at(10), "g-1", "globex")]
    send(engine, vendor.id, events, at(20))
    before = scrape(app_client)

    report = close(engine, datetime(2026, 11, 5, tzinfo=UTC))

    assert sorted(issued.total for issued in report.invoices) == [
        Decimal("25.00"),
        Decimal("36.98"),
    ]
    after = scrape(app_client)
    assert moved(before, after, "metering_invoices_issued_total", currency="usd") == 2
    amount = moved(before, after, "metering_invoices_issued_amount_total", currency="usd")
    assert amount == pytest.approx(61.98, abs=1e-9)


def webhook_endpoint(engine: Engine, vendor_id: str) -> None:
    """An endpoint stored as it is (its address is never reached: the client is a mock)."""
    with Session(engine) as session:
        session.add(
            WebhookEndpoint(
                id=new_id("we"),
                vendor_id=vendor_id,
                url="https://hooks.example.com/metering",
                event_types=["invoice.issued"],
                secret=new_signing_secret(),
            )
        )
        session.flush()
        enqueue(session, vendor_id, "invoice.issued", {"invoice": "inv_x", "number": 1})
        session.commit()


def test_a_failing_webhook_counts_each_attempt_and_shows_the_backlog(
    engine: Engine, app_client: Any, vendor: VendorFixture
) -> None:
    webhook_endpoint(engine, vendor.id)
    an_hour_ago = utcnow() - timedelta(hours=1)
    with engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE webhook_deliveries SET created_at = :at"), {"at": an_hour_ago}
        )
    failing = httpx.Client(transport=httpx.MockTransport(lambda _request: httpx.Response(500)))
    before = scrape(app_client)
    assert value(before, "metering_webhook_deliveries_pending") == 1
    assert 3600 <= value(before, "metering_webhook_oldest_pending_age_seconds") < 3660

    tried = deliver_due(engine, Settings(), owner="t", client=failing, rng=random.Random(1))
    after_retry = scrape(app_client)
    last = deliver_due(
        engine,
        Settings(),
        owner="t",
        now=utcnow() + timedelta(days=2),  # past the day of retries: given up
        client=failing,
        rng=random.Random(1),
    )

    assert (tried.retrying, last.failed) == (1, 1)
    after = scrape(app_client)
    attempts = "metering_webhook_attempts_total"
    assert moved(before, after_retry, attempts, result="retry") == 1
    assert moved(after_retry, after, attempts, result="gave_up") == 1
    assert moved(before, after, attempts, result="delivered") == 0
    assert value(after_retry, "metering_webhook_deliveries_pending") == 1
    assert value(after, "metering_webhook_deliveries_pending") == 0
    assert value(after, "metering_webhook_oldest_pending_age_seconds") == 0
    assert value(after, "metering_webhook_deliveries_failed") == 1


@recorded(CLOSE_JOB_ID)
def broken_close() -> None:
    raise RuntimeError("the close failed")


def test_a_job_run_is_counted_and_resets_its_seconds_since_success(
    engine: Engine, database_url: str, app_client: Any
) -> None:
    settings = Settings(database_url=database_url)
    an_hour_ago = utcnow() - timedelta(hours=1)
    runs = JobRuns(engine, {CLOSE_JOB_ID: timedelta(minutes=5)}, an_hour_ago)
    runs.register()
    job = {"job_id": CLOSE_JOB_ID}
    before = scrape(app_client)
    assert 3600 <= value(before, "metering_job_seconds_since_last_success", **job) < 3660
    assert value(before, "metering_job_interval_seconds", **job) == 300
    assert value(before, "metering_job_overdue", **job) == 1

    context.bind(context.JobContext(engine, settings, "test", runs))
    try:
        with pytest.raises(RuntimeError):
            broken_close()
        failed = scrape(app_client)
        close_due_periods()
    finally:
        context.unbind()

    after = scrape(app_client)
    runs_total = "metering_job_runs_total"
    assert moved(before, failed, runs_total, result="failure", **job) == 1
    assert value(failed, "metering_job_seconds_since_last_success", **job) >= 3600
    assert moved(failed, after, runs_total, result="success", **job) == 1
    assert value(after, "metering_job_seconds_since_last_success", **job) < 60
    assert value(after, "metering_job_overdue", **job) == 0


def test_payment_sync_outcomes_and_the_states_of_payment_links(
    engine: Engine, app_client: Any
) -> None:
    billed = billing(engine)
    issued_invoice(engine, billed, ["5.00"], provider=None)  # whichever provider takes it
    before = scrape(app_client)
    assert value(before, "metering_payment_links", provider="none", state="not_started") == 1

    retried = sync(engine, MemoryProvider(unreachable=1))
    after_retry = scrape(app_client)
    done = sync(engine, MemoryProvider(), datetime(2026, 11, 5, tzinfo=UTC))

    assert [r.outcome for r in retried.results + done.results] == ["retry", "done"]
    after = scrape(app_client)
    results = "metering_payment_sync_results_total"
    assert moved(before, after_retry, results, provider="memory", outcome="retry") == 1
    assert moved(after_retry, after, results, provider="memory", outcome="done") == 1
    errors = "metering_payment_sync_errors"
    assert value(after_retry, errors, provider="memory", kind="retrying") == 1
    assert value(after, errors, provider="memory", kind="retrying") == 0
    assert value(after, "metering_payment_links", provider="memory", state="paid") == 1
    assert value(after, "metering_payment_links", provider="memory", state="not_started") == 0


def test_a_database_that_does_not_answer_leaves_the_counters_exposed(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'never-migrated.db'}"))
    with TestClient(app) as client:
        response = client.get("/metrics")

    assert response.status_code == 200
    assert "# TYPE metering_events_ingested_total counter" in response.text
    assert "metering_database_up 0.0" in response.text.splitlines()
    assert "metering_job_seconds_since_last_success" not in response.text


def test_metrics_stay_out_of_the_openapi_document(app: Any) -> None:
    assert "/metrics" not in app.openapi()["paths"]
