"""Over HTTP: a plan, a customer, an alert and an endpoint made through the API, events sent
now; the crossing reaches a real receiver, signed, and shows in the API."""

from __future__ import annotations

import random
from typing import Any

from sqlalchemy.engine import Engine

from metering.notify.alerts.evaluation import evaluate
from metering.notify.webhooks.delivery import deliver_due
from metering.platform.db.types import utcnow
from tests.metering.conftest import VendorFixture, receiving_settings
from tests.metering.notify.alerts.helpers import iso, resolutions, rules
from tests.metering.notify.webhooks.receiver import Receiver, running
from tests.metering.platform.api.support import bearer


def call(client: Any, vendor: VendorFixture, method: str, path: str, **kwargs: Any) -> Any:
    response = client.request(method, path, headers=bearer(vendor.api_key), **kwargs)
    assert response.status_code < 300, response.text
    return response.json()


def test_a_spend_alert_reaches_the_receiver(
    engine: Engine, app_client: Any, vendor: VendorFixture
) -> None:
    call(app_client, vendor, "POST", "/v1/plans", json={"yaml": rules()})
    customer = call(app_client, vendor, "POST", "/v1/customers", json={"external_id": "acme"})
    call(
        app_client,
        vendor,
        "POST",
        f"/v1/customers/{customer['id']}/plan",
        json={"plan": "alerting"},
    )
    alert = call(
        app_client,
        vendor,
        "POST",
        "/v1/alerts",
        json={"kind": "spend", "threshold": "10.00", "plan": "alerting"},
    )

    with running(Receiver()) as receiver:
        endpoint = call(
            app_client,
            vendor,
            "POST",
            "/v1/webhook_endpoints",
            json={"url": receiver.url, "event_types": ["alert.triggered"]},
        )
        receiver.secrets = [endpoint["secret"]]
        now = utcnow()
        events = resolutions("e", 2, now.replace(microsecond=0))  # 5.00 + 5.00 fee = 10.00
        call(app_client, vendor, "POST", "/v1/events", json={"events": events})

        assert len(evaluate(engine, now=utcnow())) == 1
        assert evaluate(engine, now=utcnow()) == []
        deliver_due(engine, receiving_settings(), owner="test", rng=random.Random(1))

    [got] = receiver.received
    assert got.verified
    assert got.body["type"] == "alert.triggered"
    assert got.body["data"]["alert"]["id"] == alert["id"]
    assert got.body["data"]["customer"] == {"id": customer["id"], "external_id": "acme"}
    assert (got.body["data"]["figure"], got.body["data"]["threshold"]) == ("10.00", "10.00")
    assert got.body["data"]["period"]["start"] <= iso(now) < got.body["data"]["period"]["end"]
    delivered = call(app_client, vendor, "GET", "/v1/webhook_deliveries?status=delivered")
    assert [d["event_id"] for d in delivered["data"]] == [got.webhook_id]
    firings = call(app_client, vendor, "GET", f"/v1/alert_firings?alert={alert['id']}")
    assert [f["figure"] for f in firings["data"]] == ["10"]
