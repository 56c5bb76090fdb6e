"""Deliveries reach a real receiver on localhost, signed, retried with backoff, never lost."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.notify.webhooks.delivery import Answer, backoff, claim_due, deliver_due, record
from metering.platform.db.types import utcnow
from metering.platform.outbox.service import enqueue
from tests.metering.conftest import VendorFixture, receiving_settings
from tests.metering.notify.webhooks.receiver import Receiver, free_port, running
from tests.metering.platform.api.support import bearer

SETTINGS = receiving_settings()


def register(client: Any, vendor: VendorFixture, url: str, types: list[str]) -> dict[str, Any]:
    response = client.post(
        "/v1/webhook_endpoints",
        json={"url": url, "event_types": types},
        headers=bearer(vendor.api_key),
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def issue_event(engine: Engine, vendor: VendorFixture, number: int = 7) -> None:
    with Session(engine) as session:
        enqueue(session, vendor.id, "invoice.issued", {"invoice": "inv_x", "number": number})
        session.commit()


def deliver(engine: Engine, after: timedelta = timedelta(0)) -> Any:
    return deliver_due(engine, SETTINGS, owner="test", now=utcnow() + after, rng=random.Random(1))


def test_fails_twice_then_succeeds_one_event_three_attempts_same_id(
    engine: Engine, app_client: Any, vendor: VendorFixture
) -> None:
    with running(Receiver(script=[500, 500])) as receiver:
        endpoint = register(app_client, vendor, receiver.url, ["invoice.issued"])
        receiver.secrets = [endpoint["secret"]]
        issue_event(engine, vendor)

        assert deliver(engine).retrying == 1
        assert deliver(engine).results == {}  # not due again before its backoff
        assert deliver(engine, timedelta(hours=1)).retrying == 1
        assert deliver(engine, timedelta(hours=3)).delivered == 1
        assert deliver(engine, timedelta(hours=5)).results == {}

    assert [r.answered for r in receiver.received] == [500, 500, 200]
    assert all(r.verified for r in receiver.received)
    ids = {r.webhook_id for r in receiver.received}
    assert len(ids) == 1 and next(iter(ids)).startswith("evt_")
    assert receiver.received[0].body["data"] == {"invoice": "inv_x", "number": 7}

    listed = app_client.get(
        "/v1/webhook_deliveries?status=delivered", headers=bearer(vendor.api_key)
    ).json()["data"]
    assert len(listed) == 1
    assert listed[0]["event_id"] in ids and listed[0]["attempt_count"] == 3
    detail = app_client.get(
        f"/v1/webhook_deliveries/{listed[0]['id']}", headers=bearer(vendor.api_key)
    ).json()
    assert [a["status_code"] for a in detail["attempts"]] == [500, 500, 200]
    assert all(a["duration_ms"] >= 0 and a["error"] is None for a in detail["attempts"])
    assert detail["status"] == "delivered" and detail["payload"]["type"] == "invoice.issued"


def test_a_receiver_that_is_down_loses_nothing(
    engine: Engine, app_client: Any, vendor: VendorFixture
) -> None:
    receiver = Receiver(port=free_port())
    endpoint = register(app_client, vendor, receiver.url, ["invoice.issued"])
    receiver.secrets = [endpoint["secret"]]
    for number in (1, 2, 3):
        issue_event(engine, vendor, number)

    report = deliver(engine)
    assert report.retrying == 3
    pending = app_client.get(
        "/v1/webhook_deliveries?status=pending", headers=bearer(vendor.api_key)
    ).json()["data"]
    first = app_client.get(
        f"/v1/webhook_deliveries/{pending[0]['id']}", headers=bearer(vendor.api_key)
    ).json()
    assert first["attempts"][0]["status_code"] is None
    assert "Connect" in first["attempts"][0]["error"]

    with running(receiver):
        assert deliver(engine, timedelta(hours=2)).delivered == 3
    assert sorted(r.body["data"]["number"] for r in receiver.received) == [1, 2, 3]
    assert all(r.verified for r in receiver.received)


def test_gives_up_after_the_retry_window_and_a_manual_retry_sends_again(
    engine: Engine, app_client: Any, vendor: VendorFixture
) -> None:
    with running(Receiver(script=[503] * 3)) as receiver:
        endpoint = register(app_client, vendor, receiver.url, ["invoice.issued"])
        receiver.secrets = [endpoint["secret"]]
        issue_event(engine, vendor)
        assert deliver(engine).retrying == 1
        assert deliver(engine, timedelta(hours=23)).retrying == 1
        assert deliver(engine, timedelta(hours=25)).failed == 1
        assert deliver(engine, timedelta(hours=48)).results == {}

        failed = app_client.get(
            "/v1/webhook_deliveries?status=failed", headers=bearer(vendor.api_key)
        ).json()["data"]
        assert [d["attempt_count"] for d in failed] == [3]
        window = datetime.fromisoformat(failed[0]["give_up_at"]) - datetime.fromisoformat(
            failed[0]["created_at"]
        )
        assert window == timedelta(hours=24)
        retried = app_client.post(
            f"/v1/webhook_deliveries/{failed[0]['id']}/retry", headers=bearer(vendor.api_key)
        ).json()
        assert retried["status"] == "pending"
        assert deliver(engine).delivered == 1
    assert [r.answered for r in receiver.received] == [503, 503, 503, 200]


def test_backoff_doubles_from_the_base_up_to_the_cap_with_jitter() -> None:
    rng = random.Random(7)
    base, cap = timedelta(seconds=30), timedelta(hours=1)
    waits = [backoff(n, base, cap, rng) for n in range(1, 12)]
    nominal = [min(base * 2 ** (n - 1), cap) for n in range(1, 12)]
    assert all(0.8 * b <= w <= 1.2 * b for w, b in zip(waits, nominal, strict=True))
    assert nominal[:4] == [timedelta(seconds=s) for s in (30, 60, 120, 240)]
    assert nominal[-1] == cap


def test_a_worker_that_died_mid_send_leaves_the_delivery_to_another_after_its_lease(
    engine: Engine, app_client: Any, vendor: VendorFixture
) -> None:
    with running(Receiver()) as receiver:
        endpoint = register(app_client, vendor, receiver.url, ["invoice.issued"])
        receiver.secrets = [endpoint["secret"]]
        issue_event(engine, vendor)
        now = utcnow()
        [lost] = claim_due(engine, "dead", now, SETTINGS.webhook_lease, 10)  # then it died
        assert deliver(engine).results == {}  # leased: nobody else sends it
        after = deliver(engine, SETTINGS.webhook_lease + timedelta(seconds=1))
        assert after.delivered == 1
    late = record(
        engine,
        lost,
        Answer(status_code=500, error=None, duration_ms=3),
        owner="dead",
        attempted_at=now,
        settings=SETTINGS,
    )
    assert late == "lease_lost"
    [delivery] = app_client.get("/v1/webhook_deliveries", headers=bearer(vendor.api_key)).json()[
        "data"
    ]
    assert (delivery["status"], delivery["attempt_count"]) == ("delivered", 1)
    assert len(receiver.received) == 1
