"""Webhook deliveries (failed first, retry through the API's service) and the alerts page
(rules in force and their firings)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from metering.platform.db.ids import new_id
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


def test_deliveries_page_failed_first_across_pages(
    engine: Engine, app_client: TestClient, signed_in: Books
) -> None:
    """60 more deliveries, every third failed: all failed ones (newest first) come before
    the others (newest first), however the pages cut them."""
    with Session(engine) as session:
        found = session.get(WebhookDelivery, signed_in.delivery)
        assert found is not None
        for n in range(60):
            status = "failed" if n % 3 == 0 else "delivered"
            session.add(
                WebhookDelivery(
                    id=new_id("whd"),
                    vendor_id=signed_in.vendor.id,
                    endpoint_id=found.endpoint_id,
                    event_id=f"evt_{n:02}",
                    event_type="invoice.issued",
                    payload="{}",
                    status=status,
                    give_up_at=found.give_up_at,
                )
            )
        session.commit()
        rows = session.exec(
            select(WebhookDelivery).where(WebhookDelivery.vendor_id == signed_in.vendor.id)
        ).all()
        newest = sorted(rows, key=lambda row: row.id, reverse=True)
        expected = [row.id for row in newest if row.status == "failed"]
        expected += [row.id for row in newest if row.status != "failed"]
    first = app_client.get("/vendor/webhooks").text
    more = re.search(r'href="(/vendor/webhooks\?cursor=[^"]+)" rel="next"', first)
    assert more is not None
    second = app_client.get(more[1]).text
    shown = re.findall(r'<tr id="row-([^"]+)"', first) + re.findall(r'<tr id="row-([^"]+)"', second)
    assert shown == expected and len(shown) == 61
    assert 'rel="next"' not in second
    assert app_client.get("/vendor/webhooks?cursor=nonsense").status_code == 400
    assert app_client.get("/vendor/invoices?cursor=nonsense").status_code == 400
