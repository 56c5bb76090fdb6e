"""Webhook deliveries (failed first, retry through the API's service) and the alerts page
(rules in force and their firings)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.platform.outbox.models import WebhookDelivery
from tests.metering.surfaces.reports.test_vendor_pages import csrf_of
from tests.metering.surfaces.vendor_web.scenario import (
    ENDPOINT_URL,
    Books,
)


def test_failed_deliveries_first_and_retry(
    engine: Engine, app_client: TestClient, signed_in: Books
) -> None:
    page = app_client.get("/vendor/webhooks").text
    assert re.findall(r'<tr id="row-([^"]+)"', page)[0] == signed_in.delivery
    assert ENDPOINT_URL in page and "connection refused" in page and "outcome.disputed" in page
    assert (
        "No webhook delivery is delivered."
        in app_client.get("/vendor/webhooks?status=delivered").text
    )
    done = app_client.post(
        f"/vendor/webhooks/{signed_in.delivery}/retry", data={"csrf_token": csrf_of(page)}
    )
    assert done.status_code == 200
    assert "is due again now" in done.text
    with Session(engine) as session:
        delivery = session.get(WebhookDelivery, signed_in.delivery)
        assert delivery is not None
        assert delivery.status == "pending" and delivery.next_attempt_at is not None


def test_the_alerts_page(app_client: TestClient, signed_in: Books) -> None:
    page = app_client.get("/vendor/alerts").text
    assert "Any spend" in page
    assert "Spend reaches 1" in page and "plan support-agent" in page
    firings = page[page.index("Recent firings") :]
    for name in ("acme", "globex", "initech"):
        assert f">{name}</a>" in firings
    assert "2026-10-01 to 2026-11-01" in firings
