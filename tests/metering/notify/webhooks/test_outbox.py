"""The outbox writes one delivery per subscribed, enabled endpoint, in the caller's transaction."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.platform.outbox.service import enqueue
from tests.metering.conftest import VendorFixture, create_vendor
from tests.metering.notify.webhooks.helpers import add_endpoint, deliveries, payload


def test_one_delivery_per_subscribed_enabled_endpoint(
    engine: Engine, vendor: VendorFixture
) -> None:
    issued = add_endpoint(engine, vendor.id, "https://a.test/hook", ["invoice.issued"])
    both = add_endpoint(
        engine, vendor.id, "https://b.test/hook", ["invoice.paid", "invoice.issued"]
    )
    add_endpoint(engine, vendor.id, "https://c.test/hook", ["invoice.paid"])
    add_endpoint(engine, vendor.id, "https://d.test/hook", ["invoice.issued"], enabled=False)
    other = create_vendor(engine, "Other AI")
    add_endpoint(engine, other.id, "https://e.test/hook", ["invoice.issued"])

    with Session(engine) as session:
        enqueue(session, vendor.id, "invoice.issued", {"invoice": "inv_1", "total": "12.30"})
        session.commit()

    made = deliveries(engine)
    assert sorted(d.endpoint_id for d in made) == sorted([issued.id, both.id])
    assert {d.status for d in made} == {"pending"}
    assert made[0].event_id == made[1].event_id and made[0].event_id.startswith("evt_")
    body = payload(made[0])
    assert body["id"] == made[0].event_id
    assert body["type"] == "invoice.issued"
    assert body["data"] == {"invoice": "inv_1", "total": "12.30"}
    assert body["timestamp"].endswith("Z")


def test_nothing_is_written_when_the_callers_transaction_rolls_back(
    engine: Engine, vendor: VendorFixture
) -> None:
    add_endpoint(engine, vendor.id, "https://a.test/hook", ["alert.triggered"])
    with Session(engine) as session:
        enqueue(session, vendor.id, "alert.triggered", {"rule": "alr_1"})
        session.rollback()
    assert deliveries(engine) == []


def test_an_unknown_event_type_is_a_programming_error(
    engine: Engine, vendor: VendorFixture
) -> None:
    with Session(engine) as session, pytest.raises(ValueError, match=r"invoice\.sent"):
        enqueue(session, vendor.id, "invoice.sent", {})
