"""A customer's payment provider through the API: its default, changes, and the provider each
invoice keeps from the day it was issued."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from metering.platform.settings import Settings
from metering.surfaces.app import create_app
from tests.metering.billing.invoices.helpers import (
    OCTOBER,
    RULES,
    at,
    close,
    invoices,
    payment_link,
    resolution,
    send,
)
from tests.metering.conftest import VendorFixture, create_plan, create_vendor
from tests.metering.platform.api.support import bearer


def client_with(database_url: str, **settings: Any) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(database_url=database_url, **settings))) as client:
        yield client


@pytest.fixture
def without_stripe(engine: Engine, database_url: str) -> Iterator[TestClient]:
    yield from client_with(database_url)


@pytest.fixture
def with_stripe(engine: Engine, database_url: str) -> Iterator[TestClient]:
    yield from client_with(database_url, stripe_api_key="sk_test_anything")


def create(client: TestClient, vendor: VendorFixture, **fields: Any) -> dict[str, Any]:
    answer = client.post(
        "/v1/customers", json={"external_id": "acme", **fields}, headers=bearer(vendor.api_key)
    )
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_the_default_is_stripe_when_it_is_configured_else_manual(
    without_stripe: TestClient, with_stripe: TestClient, engine: Engine
) -> None:
    first, second = create_vendor(engine, "One"), create_vendor(engine, "Two")

    assert create(without_stripe, first)["payment_provider"] == "manual"
    assert create(with_stripe, second)["payment_provider"] == "stripe"


def test_chosen_changed_and_refused(without_stripe: TestClient, vendor: VendorFixture) -> None:
    auth = bearer(vendor.api_key)
    customer = create(without_stripe, vendor, payment_provider="stripe")
    assert customer["payment_provider"] == "stripe"

    moved = without_stripe.patch(
        f"/v1/customers/{customer['id']}", json={"payment_provider": "manual"}, headers=auth
    )
    unknown = without_stripe.patch(
        f"/v1/customers/{customer['id']}", json={"payment_provider": "paypal"}, headers=auth
    )
    null = without_stripe.patch(
        f"/v1/customers/{customer['id']}", json={"payment_provider": None}, headers=auth
    )

    assert moved.json()["payment_provider"] == "manual"
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "payment_provider"
    assert (null.status_code, null.json()["detail"]) == (
        422,
        "payment_provider: cannot be null; send stripe or manual",
    )


def test_each_invoice_keeps_the_provider_it_was_issued_with(
    without_stripe: TestClient, engine: Engine, vendor: VendorFixture
) -> None:
    auth = bearer(vendor.api_key)
    create_plan(engine, vendor.id, RULES)
    customer = create(without_stripe, vendor, payment_provider="manual")
    subscribed = without_stripe.post(
        f"/v1/customers/{customer['id']}/plan",
        json={"plan": "support-agent", "starts_at": OCTOBER.isoformat()},
        headers=auth,
    )
    assert subscribed.status_code == 200, subscribed.text
    send(engine, vendor.id, [resolution("r1", at(2), "c1")], at(3))
    close(engine, at(5, month=11))
    without_stripe.patch(
        f"/v1/customers/{customer['id']}", json={"payment_provider": "stripe"}, headers=auth
    )
    close(engine, at(5, month=12))

    october, november = invoices(engine)
    assert [payment_link(engine, i.id).provider for i in (october, november)] == [
        "manual",
        "stripe",
    ]
    shown = without_stripe.get(f"/v1/invoices/{october.id}", headers=auth).json()
    assert shown["payment_provider"] == "manual"
