"""`/v1/webhook_endpoints`: registration, the secret shown once, changes, rotation, scoping."""

from __future__ import annotations

import random
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.notify.webhooks.delivery import deliver_due
from metering.platform.outbox.service import enqueue
from tests.metering.conftest import VendorFixture, create_vendor, receiving_settings
from tests.metering.notify.webhooks.helpers import deliveries
from tests.metering.notify.webhooks.receiver import Receiver, running
from tests.metering.platform.api.support import bearer

URL = "https://hooks.example.com/metering"


def create(client: Any, vendor: VendorFixture, **body: Any) -> Any:
    body = {"url": URL, "event_types": ["invoice.issued"], **body}
    return client.post("/v1/webhook_endpoints", json=body, headers=bearer(vendor.api_key))


def test_the_secret_is_shown_once_and_types_are_checked(
    app_client: Any, vendor: VendorFixture
) -> None:
    made = create(app_client, vendor, event_types=["invoice.paid", "alert.triggered"])
    assert made.status_code == 201
    assert made.json()["secret"].startswith("whsec_")
    assert made.json()["event_types"] == ["alert.triggered", "invoice.paid"]
    assert made.json()["enabled"] is True

    one = app_client.get(
        f"/v1/webhook_endpoints/{made.json()['id']}", headers=bearer(vendor.api_key)
    ).json()
    listed = app_client.get("/v1/webhook_endpoints", headers=bearer(vendor.api_key)).json()
    assert "secret" not in one and "secret" not in listed["data"][0]
    assert [e["id"] for e in listed["data"]] == [made.json()["id"]]

    wrong = create(app_client, vendor, event_types=["invoice.sent"])
    assert wrong.status_code == 422
    assert "event_types[0]" in wrong.json()["detail"]
    assert create(app_client, vendor, event_types=[]).status_code == 422
    assert create(app_client, vendor, url="not a url").status_code == 422


def test_disabled_or_deleted_endpoints_get_no_new_deliveries(
    engine: Engine, app_client: Any, vendor: VendorFixture
) -> None:
    first = create(app_client, vendor).json()
    second = create(app_client, vendor).json()
    patched = app_client.patch(
        f"/v1/webhook_endpoints/{first['id']}",
        json={"enabled": False},
        headers=bearer(vendor.api_key),
    )
    assert patched.json()["enabled"] is False
    deleted = app_client.delete(
        f"/v1/webhook_endpoints/{second['id']}", headers=bearer(vendor.api_key)
    )
    assert deleted.status_code == 200 and deleted.json()["enabled"] is False

    with Session(engine) as session:
        enqueue(session, vendor.id, "invoice.issued", {"invoice": "inv_1"})
        session.commit()
    assert deliveries(engine) == []

    app_client.patch(
        f"/v1/webhook_endpoints/{first['id']}",
        json={"enabled": True, "event_types": ["invoice.paid"]},
        headers=bearer(vendor.api_key),
    )
    with Session(engine) as session:
        enqueue(session, vendor.id, "invoice.issued", {"invoice": "inv_2"})
        enqueue(session, vendor.id, "invoice.paid", {"invoice": "inv_2"})
        session.commit()
    assert [(d.endpoint_id, d.event_type) for d in deliveries(engine)] == [
        (first["id"], "invoice.paid")
    ]


def test_after_rotation_both_secrets_verify_during_the_grace_period(
    engine: Engine, app_client: Any, vendor: VendorFixture
) -> None:
    with running(Receiver()) as receiver:
        made = create(app_client, vendor, url=receiver.url).json()
        rotated = app_client.post(
            f"/v1/webhook_endpoints/{made['id']}/rotate_secret", headers=bearer(vendor.api_key)
        ).json()
        assert rotated["secret"].startswith("whsec_") and rotated["secret"] != made["secret"]
        with Session(engine) as session:
            enqueue(session, vendor.id, "invoice.issued", {"invoice": "inv_1"})
            session.commit()
        deliver_due(engine, receiving_settings(), owner="test", rng=random.Random(1))

    for secret in (made["secret"], rotated["secret"]):
        receiver.secrets = [secret]
        assert receiver.verify(receiver.raw[0][0], receiver.raw[0][1])
    receiver.secrets = ["whsec_" + "A" * 44]
    assert not receiver.verify(receiver.raw[0][0], receiver.raw[0][1])


def test_another_vendors_endpoints_and_deliveries_are_404(
    engine: Engine, app_client: Any, vendor: VendorFixture
) -> None:
    made = create(app_client, vendor).json()
    with Session(engine) as session:
        enqueue(session, vendor.id, "invoice.issued", {"invoice": "inv_1"})
        session.commit()
    delivery_id = deliveries(engine)[0].id
    other = create_vendor(engine, "Other AI")
    for path in (
        f"/v1/webhook_endpoints/{made['id']}",
        f"/v1/webhook_deliveries/{delivery_id}",
    ):
        answer = app_client.get(path, headers=bearer(other.api_key))
        assert answer.status_code == 404, path
    assert (
        app_client.get("/v1/webhook_deliveries", headers=bearer(other.api_key)).json()["data"] == []
    )
    retry = app_client.post(
        f"/v1/webhook_deliveries/{delivery_id}/retry", headers=bearer(other.api_key)
    )
    assert retry.status_code == 404


def test_a_disabled_endpoints_pending_deliveries_wait_until_it_is_enabled(
    engine: Engine, app_client: Any, vendor: VendorFixture
) -> None:
    with running(Receiver()) as receiver:
        made = create(app_client, vendor, url=receiver.url).json()
        with Session(engine) as session:
            enqueue(session, vendor.id, "invoice.issued", {"invoice": "inv_1"})
            session.commit()
        path = f"/v1/webhook_endpoints/{made['id']}"
        app_client.delete(path, headers=bearer(vendor.api_key))
        assert deliver_due(engine, receiving_settings(), owner="test").results == {}
        assert [d.status for d in deliveries(engine)] == ["pending"]

        app_client.patch(path, json={"enabled": True}, headers=bearer(vendor.api_key))
        assert deliver_due(engine, receiving_settings(), owner="test").delivered == 1
    assert [r.body["data"] for r in receiver.received] == [{"invoice": "inv_1"}]
