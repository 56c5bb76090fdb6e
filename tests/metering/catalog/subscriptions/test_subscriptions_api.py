"""Subscriptions through the REST API: plan changes, the list, uploads that move subscribers,
and the collection settings shown on customers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from metering.catalog.vendors.service import NewVendor
from tests.metering.catalog.subscriptions.support import rules
from tests.metering.platform.api.support import bearer, make_vendor

YAML = {"Content-Type": "application/yaml"}


@pytest.fixture
def vendor(engine: Engine) -> NewVendor:
    return make_vendor(engine, "Acme AI")


@pytest.fixture
def auth(vendor: NewVendor) -> dict[str, str]:
    return bearer(vendor.api_key)


def _month_starts() -> tuple[str, str]:
    """The start of this month and of the next, as the API prints them."""
    now = datetime.now(UTC)
    this = datetime(now.year, now.month, 1, tzinfo=UTC)
    following = datetime(now.year + now.month // 12, now.month % 12 + 1, 1, tzinfo=UTC)
    return this.isoformat().replace("+00:00", "Z"), following.isoformat().replace("+00:00", "Z")


def _upload(client: Any, auth: dict[str, str], text: str, apply: str | None = None) -> Any:
    path = "/v1/plans" + (f"?apply={apply}" if apply else "")
    response = client.post(path, content=text.encode(), headers={**auth, **YAML})
    assert response.status_code in (200, 201), response.text
    return response.json()


def _customer(client: Any, auth: dict[str, str], external_id: str, **fields: Any) -> Any:
    response = client.post(
        "/v1/customers", json={"external_id": external_id, **fields}, headers=auth
    )
    assert response.status_code == 201, response.text
    return response.json()


def _plan(client: Any, auth: dict[str, str], customer_id: str, **body: Any) -> Any:
    return client.post(f"/v1/customers/{customer_id}/plan", json=body, headers=auth)


def _versions(client: Any, auth: dict[str, str], customer_id: str) -> list[tuple[Any, ...]]:
    listed = client.get(f"/v1/customers/{customer_id}/subscriptions", headers=auth)
    assert listed.status_code == 200, listed.text
    return [(s["plan"], s["version"], s["starts_at"], s["ends_at"]) for s in listed.json()["data"]]


def test_subscribe_then_change_at_the_next_period(
    app_client: Any, auth: dict[str, str], engine: Engine
) -> None:
    this_month, next_month = _month_starts()
    _upload(app_client, auth, rules(1))
    acme = _customer(app_client, auth, "acme")
    assert (acme["subscription"], acme["pending_change"]) == (None, None)
    first = _plan(app_client, auth, acme["id"], plan="support-agent")
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["plan"], body["subscription"]["version"]) == ("support-agent", 1)
    assert (body["subscription"]["starts_at"], body["subscription"]["ends_at"]) == (
        this_month,
        None,
    )
    _upload(app_client, auth, rules(2, "1.50"), apply="none")
    assert _versions(app_client, auth, acme["id"]) == [("support-agent", 1, this_month, None)]
    changed = _plan(app_client, auth, acme["id"], plan="support-agent", version=2).json()
    assert changed["subscription"]["ends_at"] == next_month
    assert (changed["pending_change"]["version"], changed["pending_change"]["starts_at"]) == (
        2,
        next_month,
    )
    assert _versions(app_client, auth, acme["id"]) == [
        ("support-agent", 1, this_month, next_month),
        ("support-agent", 2, next_month, None),
    ]
    refused = _plan(
        app_client, auth, acme["id"], plan="support-agent", starts_at="2026-01-01T00:00:00Z"
    )
    assert refused.status_code == 422
    assert refused.json()["detail"].startswith("starts_at: only a first subscription")
    naive = _plan(app_client, auth, acme["id"], plan="support-agent", effective="tomorrow")
    assert naive.status_code == 422


def test_uploading_a_version_moves_subscribers_as_asked(
    app_client: Any, auth: dict[str, str], engine: Engine
) -> None:
    this_month, next_month = _month_starts()
    _upload(app_client, auth, rules(1))
    _upload(app_client, auth, rules(1, slug="sales-agent"))
    acme = _customer(app_client, auth, "acme")["id"]
    globex = _customer(app_client, auth, "globex")["id"]
    _plan(app_client, auth, acme, plan="support-agent")
    _plan(app_client, auth, globex, plan="sales-agent")
    _upload(app_client, auth, rules(2, "1.50"))  # next_period by default
    assert _versions(app_client, auth, acme) == [
        ("support-agent", 1, this_month, next_month),
        ("support-agent", 2, next_month, None),
    ]
    assert _versions(app_client, auth, globex) == [("sales-agent", 1, this_month, None)]
    _upload(app_client, auth, rules(3, "2.00"), apply="immediately")
    moved = _versions(app_client, auth, acme)
    assert [(plan, version) for plan, version, _, _ in moved] == [
        ("support-agent", 1),
        ("support-agent", 3),
    ]
    assert moved[0][3] == moved[1][2]  # split now, where the pending change was dropped
    assert moved[1][3] is None
    bad = app_client.post(
        "/v1/plans?apply=sometime", content=rules(4).encode(), headers={**auth, **YAML}
    )
    assert bad.status_code == 422


def test_subscriptions_of_another_vendors_customer_are_404(
    app_client: Any, auth: dict[str, str], engine: Engine
) -> None:
    acme = _customer(app_client, auth, "acme")["id"]
    other = bearer(make_vendor(engine, "Intruder").api_key)
    response = app_client.get(f"/v1/customers/{acme}/subscriptions", headers=other)
    assert (response.status_code, response.json()["detail"]) == (404, f"No customer '{acme}'.")


def test_collection_settings_are_created_shown_and_patched(
    app_client: Any, auth: dict[str, str]
) -> None:
    default = _customer(app_client, auth, "acme")
    assert (default["collection_method"], default["days_until_due"]) == (
        "charge_automatically",
        30,
    )
    sent = _customer(
        app_client, auth, "globex", collection_method="send_invoice", days_until_due=14
    )
    assert (sent["collection_method"], sent["days_until_due"]) == ("send_invoice", 14)
    path = f"/v1/customers/{default['id']}"
    patched = app_client.patch(path, json={"collection_method": "send_invoice"}, headers=auth)
    assert patched.json()["collection_method"] == "send_invoice"
    assert patched.json()["days_until_due"] == 30
    wrong = app_client.patch(path, json={"collection_method": "barter"}, headers=auth)
    assert wrong.status_code == 422
    null = app_client.patch(path, json={"days_until_due": None}, headers=auth)
    assert (null.status_code, null.json()["detail"]) == (
        422,
        "days_until_due: cannot be null; send a number of days",
    )
