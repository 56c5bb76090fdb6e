"""The portal's overview shows consumption against the commitment (both DBs)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from metering.platform.api.clock import request_now
from tests.metering.billing.commitments.helpers import RULES, YEAR, day, send_month
from tests.metering.conftest import SUPPORT_RULES, VendorFixture, create_customer, create_plan
from tests.metering.surfaces.portal.helpers import sign_in

NOW = datetime(2026, 4, 1, tzinfo=UTC)  # a quarter of the term gone


@pytest.fixture
def at_now(app: Any) -> Iterator[None]:
    app.dependency_overrides[request_now] = lambda: NOW
    yield
    app.dependency_overrides.pop(request_now, None)


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_overview_shows_the_commitment(
    app_client: TestClient, engine: Engine, vendor: VendorFixture, at_now: None
) -> None:
    plan = create_plan(engine, vendor.id, RULES)
    customer = create_customer(engine, vendor.id, "acme", plan, starts_at=YEAR)
    for month in (1, 2, 3):
        send_month(engine, vendor.id, month, [10])
    assert day(3, 10) < NOW
    sign_in(app_client, vendor.api_key, customer)

    text = text_of(app_client.get("/portal").text)

    assert "Commitment 3 of 12 resolved_conversation: 9 remaining in the term ending" in text
    assert "12 projected at the rate so far" in text  # 3 in 90 days of 365


def test_no_commitment_no_card(
    app_client: TestClient, engine: Engine, vendor: VendorFixture, at_now: None
) -> None:
    plan = create_plan(engine, vendor.id, SUPPORT_RULES)
    customer = create_customer(engine, vendor.id, "acme", plan, starts_at=YEAR)
    sign_in(app_client, vendor.api_key, customer)

    assert 'id="commitment"' not in app_client.get("/portal").text
