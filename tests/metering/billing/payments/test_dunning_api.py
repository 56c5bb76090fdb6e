"""`GET/PATCH /v1/vendor/dunning`: the vendor's retry schedule of failed payments."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.metering.conftest import VendorFixture
from tests.metering.platform.api.support import bearer


def test_the_default_a_schedule_of_its_own_and_back(
    app_client: TestClient, vendor: VendorFixture
) -> None:
    auth = bearer(vendor.api_key)

    default = app_client.get("/v1/vendor/dunning", headers=auth)
    own = app_client.patch("/v1/vendor/dunning", json={"retry_days": [1, 4, 10, 30]}, headers=auth)
    kept = app_client.get("/v1/vendor/dunning", headers=auth)
    none = app_client.patch("/v1/vendor/dunning", json={"retry_days": []}, headers=auth)
    back = app_client.patch("/v1/vendor/dunning", json={"retry_days": None}, headers=auth)

    assert default.json() == {"retry_days": [3, 5, 7], "default": True}
    assert own.json() == kept.json() == {"retry_days": [1, 4, 10, 30], "default": False}
    assert none.json() == {"retry_days": [], "default": False}
    assert back.json() == {"retry_days": [3, 5, 7], "default": True}


@pytest.mark.parametrize(
    "days",
    [[5, 3], [3, 3], [0], [91], list(range(1, 12)), "3,5,7"],
)
def test_a_schedule_that_is_not_one_is_refused(
    app_client: TestClient, vendor: VendorFixture, days: object
) -> None:
    auth = bearer(vendor.api_key)

    refused = app_client.patch("/v1/vendor/dunning", json={"retry_days": days}, headers=auth)

    assert refused.status_code == 422
    assert refused.json()["type"] == "/problems/invalid-request"
    assert app_client.get("/v1/vendor/dunning", headers=auth).json()["default"] is True
