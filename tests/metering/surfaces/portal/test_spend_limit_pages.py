"""The portal's Spend limit page (both databases): off until the vendor allows it, then the
customer sets, changes and removes its own limit through the service of the API, which can
only lower the plan's maximum (10.00, block; 4.00 per resolved conversation)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from metering.platform.api.clock import request_now
from tests.metering.billing.allowance.test_allowance_api import (
    NOW,
    allowance,
    resolutions,
    setup,
)
from tests.metering.conftest import VendorFixture
from tests.metering.ledger.limits.helpers import state
from tests.metering.platform.api.support import bearer
from tests.metering.surfaces.portal.helpers import csrf_of, sign_in
from tests.metering.surfaces.portal.test_invoices_pages import text_of


@pytest.fixture(autouse=True)
def fixed_clock(app: Any) -> None:
    """The portal and the API answer as of the moment the outcomes were sent around."""
    app.dependency_overrides[request_now] = lambda: NOW


def allow(client: TestClient, vendor: VendorFixture, on: bool | None) -> dict[str, object]:
    answer = client.patch(
        "/v1/vendor/portal", json={"customer_spend_limits": on}, headers=bearer(vendor.api_key)
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


def test_the_vendor_setting_is_off_by_default_and_the_page_only_shows_the_limit(
    app_client: TestClient, engine: Engine, vendor: VendorFixture
) -> None:
    customer_id = setup(engine, vendor)
    shown = app_client.get("/v1/vendor/portal", headers=bearer(vendor.api_key)).json()
    assert shown["customer_spend_limits"] is False
    sign_in(app_client, vendor.api_key, customer_id)

    page = app_client.get("/portal/spend_limit")

    assert page.status_code == 200, page.text
    text = text_of(page.text)
    assert "No spend limit of your own is set." in text
    assert "Your plan's maximum is $10.00 per period; your own limit can only be lower." in text
    assert "sets your spend limit. Contact them to change it." in text
    assert "Save limit" not in text
    assert 'id="spend-limit"' not in app_client.get("/portal").text
    refused = app_client.post(
        "/portal/spend_limit", data={"csrf_token": csrf_of(page.text), "amount": "5.00"}
    )
    assert refused.status_code == 403
    assert "Your spend limit is set by your vendor" in text_of(refused.text)
    assert state(engine) == {}
    assert allow(app_client, vendor, True)["customer_spend_limits"] is True
    assert allow(app_client, vendor, None)["customer_spend_limits"] is False


def test_the_customer_sets_changes_and_removes_its_limit_within_the_plans_maximum(
    app_client: TestClient, engine: Engine, vendor: VendorFixture
) -> None:
    customer_id = setup(engine, vendor)
    resolutions(engine, vendor.id, 2, 1)  # 8.00 counted
    allow(app_client, vendor, True)
    sign_in(app_client, vendor.api_key, customer_id)
    page = app_client.get("/portal/spend_limit")
    token = csrf_of(page.text)
    assert "Set a limit" in text_of(page.text)
    assert "Set or change your spend limit" in text_of(app_client.get("/portal").text)

    for amount, status, message in (
        ("10.01", 422, "Amount: 10.01 is above the plan's maximum of 10.00; it can only lower it"),
        ("0", 422, "Amount: a spend limit must be above zero, got 0"),
        ("5.001", 422, "Amount: 5.001 has more decimals than usd has (2)"),
        ("five", 422, "Amount: expected an amount such as 500.00, got 'five'"),
    ):
        refused = app_client.post(
            "/portal/spend_limit",
            data={"csrf_token": token, "amount": amount, "on_reach": "block"},
        )
        assert refused.status_code == status, amount
        assert message in text_of(refused.text), text_of(refused.text)
        assert f'value="{amount}"' in refused.text  # what was typed stays in the field
    assert state(engine)["acme-1"] == ("counted", ["counted"])

    saved = app_client.post(
        "/portal/spend_limit",
        data={"csrf_token": token, "amount": "5.00", "on_reach": "block"},
        follow_redirects=False,
    )

    assert saved.status_code == 303, saved.text
    assert saved.headers["location"] == "/portal/spend_limit?saved=set"
    shown = app_client.get(saved.headers["location"]).text
    assert 'name="amount" inputmode="decimal" autocomplete="off" required value="5.00"' in shown
    text = text_of(shown)
    assert "Your spend limit is saved." in text
    assert "$5.00 per period; when it is reached, new usage past it is held and not billed." in text
    assert "Change your limit" in text
    # The same service as the API: only the earlier outcome (4.00) fits under 5.00.
    assert state(engine) == {
        "acme-0": ("counted", ["counted"]),
        "acme-1": ("over_limit", ["over_limit"]),
    }
    body = allowance(app_client, vendor, customer_id, "resolved_conversation").json()
    assert (body["limit"]["kind"], body["limit"]["amount"]) == ("customer_spend_limit", "5.00")
    assert "Spend limit $5.00" in text_of(app_client.get("/portal").text)

    changed = app_client.post(
        "/portal/spend_limit",
        data={"csrf_token": token, "amount": "9", "on_reach": "notify"},
        follow_redirects=False,
    )
    assert changed.status_code == 303
    text = text_of(app_client.get("/portal/spend_limit").text)
    assert "$9.00 per period; when it is reached, you are told" in text
    assert state(engine)["acme-1"] == ("counted", ["counted"])

    forged = app_client.post("/portal/spend_limit/remove", data={"csrf_token": "nope"})
    assert forged.status_code == 403
    removed = app_client.post(
        "/portal/spend_limit/remove", data={"csrf_token": token}, follow_redirects=False
    )
    assert removed.headers["location"] == "/portal/spend_limit?saved=removed"
    text = text_of(app_client.get(removed.headers["location"]).text)
    assert "Your spend limit is removed." in text
    assert "No spend limit of your own is set." in text
    body = allowance(app_client, vendor, customer_id, "resolved_conversation").json()
    assert body["limit"]["kind"] == "plan_maximum"
