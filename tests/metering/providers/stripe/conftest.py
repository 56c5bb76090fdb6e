"""The Stripe harness (extended localstripe, a real process) and invoices made row by row.

Invoices are inserted directly, as the close would leave them (issued, numbered, due for
sync), so these tests exercise the sync alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from metering.platform.settings import Settings
from metering.surfaces.app import create_app
from tests.metering.conftest import LOCAL_RECEIVERS, VendorFixture, create_vendor
from tests.stripe_fake.harness import API_KEY, FakeStripe, running_fake_stripe


@pytest.fixture(scope="module")
def module_fake_stripe() -> Iterator[FakeStripe]:
    with running_fake_stripe() as fake:
        yield fake


@pytest.fixture
def fake_stripe(module_fake_stripe: FakeStripe) -> FakeStripe:
    """The module's harness, emptied before each test."""
    module_fake_stripe.reset()
    return module_fake_stripe


@pytest.fixture
def settings(engine: Engine, database_url: str, fake_stripe: FakeStripe) -> Settings:
    return sync_settings(database_url, fake_stripe.url)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """The app on the settings that reach the fake."""
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def vendor(engine: Engine) -> VendorFixture:
    return create_vendor(engine, "Acme AI")


def sync_settings(database_url: str, api_base: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "stripe_api_key": API_KEY,
        "stripe_api_base": api_base,
        "stripe_webhook_secret": "whsec_test_secret",
        "stripe_timeout_seconds": 10.0,
        "sync_retry_base": timedelta(seconds=30),
        "sync_retry_cap": timedelta(minutes=10),
        "sync_lease": timedelta(minutes=5),
        "webhook_allowed_hosts": LOCAL_RECEIVERS,
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]
