"""Customers through the REST API, scoped to the calling vendor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from metering.catalog.customers.models import Customer
from metering.catalog.plans.models import Plan
from metering.catalog.plans.repository import by_slug
from metering.catalog.plans.service import upload
from metering.catalog.vendors.service import NewVendor
from metering.platform.db.ids import new_id
from tests.metering.platform.api.support import bearer, make_vendor

EXAMPLES = Path(__file__).resolve().parents[4] / "pricing_rules" / "examples"

RULES = """\
plan: {slug}
version: {version}
currency: usd
charges:
  - {{name: Platform fee, model: flat, price: "20.00"}}
"""


@pytest.fixture
def vendor(engine: Engine) -> NewVendor:
    return make_vendor(engine, "Acme AI")


@pytest.fixture
def auth(vendor: NewVendor) -> dict[str, str]:
    return bearer(vendor.api_key)


def _create(client: Any, auth: dict[str, str], external_id: str, **fields: Any) -> Any:
    response = client.post(
        "/v1/customers", json={"external_id": external_id, **fields}, headers=auth
    )
    assert response.status_code == 201, response.text
    return response.json()


def _store_plan(engine: Engine, vendor: NewVendor, slug: str, versions: int) -> Plan:
    with Session(engine, expire_on_commit=False) as session:
        for number in range(1, versions + 1):
            upload(session, vendor.vendor, RULES.format(slug=slug, version=number), "rules.yaml")
        session.commit()
        plan = by_slug(session, vendor.vendor.id, slug)
        assert plan is not None
        return plan


def test_create_then_get(app_client: Any, auth: dict[str, str]) -> None:
    created = _create(
        app_client, auth, "acme", name="Acme", email="billing@acme.test", timezone="Europe/Paris"
    )
    assert created["id"].startswith("cus_")
    assert created["status"] == "provisioned"
    assert (created["plan"], created["plan_id"]) == (None, None)
    fetched = app_client.get(f"/v1/customers/{created['id']}", headers=auth)
    assert fetched.json() == created


def test_duplicate_external_id_is_a_409(app_client: Any, auth: dict[str, str]) -> None:
    first = _create(app_client, auth, "acme")
    response = app_client.post("/v1/customers", json={"external_id": "acme"}, headers=auth)
    assert response.status_code == 409
    assert response.json()["detail"] == (
        f"A customer with external_id 'acme' already exists: {first['id']}."
    )
    assert response.json()["customer_id"] == first["id"]


def test_creating_a_customer_first_seen_in_an_event_provisions_it(
    app_client: Any, auth: dict[str, str], engine: Engine, vendor: NewVendor
) -> None:
    with Session(engine) as session:
        session.add(
            Customer(
                id="cus_fromevent",
                vendor_id=vendor.vendor.id,
                external_id="globex",
                status="unprovisioned",
            )
        )
        session.commit()
    created = _create(app_client, auth, "globex", name="Globex")
    assert (created["id"], created["status"], created["name"]) == (
        "cus_fromevent",
        "provisioned",
        "Globex",
    )
    with Session(engine) as session:
        assert len(session.exec(select(Customer)).all()) == 1


def test_invalid_fields_are_named(app_client: Any, auth: dict[str, str]) -> None:
    response = app_client.post(
        "/v1/customers",
        json={"external_id": "", "timezone": "Mars/Olympus", "plan": "x"},
        headers=auth,
    )
    assert response.status_code == 422
    fields = [error["field"] for error in response.json()["errors"]]
    assert fields == ["external_id", "timezone", "plan"]
    assert "timezone: Value error, unknown timezone 'Mars/Olympus'" in response.json()["detail"]


def test_patch_changes_only_the_fields_sent(app_client: Any, auth: dict[str, str]) -> None:
    created = _create(app_client, auth, "acme", name="Acme", email="a@acme.test")
    response = app_client.patch(
        f"/v1/customers/{created['id']}", json={"timezone": "America/New_York"}, headers=auth
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["timezone"], body["name"], body["email"]) == (
        "America/New_York",
        "Acme",
        "a@acme.test",
    )
    refused = app_client.patch(
        f"/v1/customers/{created['id']}", json={"external_id": "other"}, headers=auth
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "external_id"


def test_list_pages_through_every_customer_once(app_client: Any, auth: dict[str, str]) -> None:
    ids = [_create(app_client, auth, f"c{index}")["id"] for index in range(5)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = app_client.get("/v1/customers", params=params, headers=auth).json()
        seen += [customer["id"] for customer in page["data"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert (seen, pages) == (ids, 3)


def test_list_filters_by_external_id_and_status(
    app_client: Any, auth: dict[str, str], engine: Engine, vendor: NewVendor
) -> None:
    _create(app_client, auth, "acme")
    globex = _create(app_client, auth, "globex")
    with Session(engine) as session:
        session.add(
            Customer(
                id=new_id("cus"),
                vendor_id=vendor.vendor.id,
                external_id="initech",
                status="unprovisioned",
            )
        )
        session.commit()
    by_external = app_client.get("/v1/customers?external_id=globex", headers=auth).json()
    assert [c["id"] for c in by_external["data"]] == [globex["id"]]
    unprovisioned = app_client.get("/v1/customers?status=unprovisioned", headers=auth).json()
    assert [c["external_id"] for c in unprovisioned["data"]] == ["initech"]


def test_bad_cursor_and_limit_are_refused(app_client: Any, auth: dict[str, str]) -> None:
    bad_cursor = app_client.get("/v1/customers?cursor=not-ours", headers=auth)
    assert bad_cursor.status_code == 400
    assert bad_cursor.json()["title"] == "Invalid Cursor"
    too_many = app_client.get("/v1/customers?limit=501", headers=auth)
    assert too_many.status_code == 422
    assert too_many.json()["errors"][0]["field"] == "query parameter limit"


def test_attach_a_plan_by_slug_or_id(
    app_client: Any, auth: dict[str, str], engine: Engine, vendor: NewVendor
) -> None:
    plan = _store_plan(engine, vendor, "support-agent", versions=2)
    customer = _create(app_client, auth, "acme")
    by_slug = app_client.post(
        f"/v1/customers/{customer['id']}/plan", json={"plan": "support-agent"}, headers=auth
    )
    assert by_slug.status_code == 200
    assert (by_slug.json()["plan"], by_slug.json()["plan_id"]) == ("support-agent", plan.id)
    by_id = app_client.post(
        f"/v1/customers/{customer['id']}/plan", json={"plan": plan.id, "version": 2}, headers=auth
    )
    assert by_id.json()["plan_id"] == plan.id


def test_attach_refuses_unknown_plans_and_versions(
    app_client: Any, auth: dict[str, str], engine: Engine, vendor: NewVendor
) -> None:
    _store_plan(engine, vendor, "support-agent", versions=2)
    customer = _create(app_client, auth, "acme")
    path = f"/v1/customers/{customer['id']}/plan"
    missing = app_client.post(path, json={"plan": "support-agent", "version": 7}, headers=auth)
    assert (missing.status_code, missing.json()["detail"]) == (
        404,
        "No version 7 of plan 'support-agent'.",
    )
    unknown = app_client.post(path, json={"plan": "nope"}, headers=auth)
    assert (unknown.status_code, unknown.json()["detail"]) == (404, "No plan 'nope'.")
    assert app_client.get(f"/v1/customers/{customer['id']}", headers=auth).json()["plan"] is None
    older = app_client.post(path, json={"plan": "support-agent", "version": 1}, headers=auth)
    assert older.status_code == 200
    assert older.json()["subscription"]["version"] == 1


def test_another_vendors_customers_are_404(
    app_client: Any, auth: dict[str, str], engine: Engine, vendor: NewVendor
) -> None:
    theirs = _create(app_client, auth, "acme")
    _store_plan(engine, vendor, "support-agent", versions=1)
    intruder = make_vendor(engine, "Intruder")
    other = bearer(intruder.api_key)
    path = f"/v1/customers/{theirs['id']}"
    assert app_client.get(path, headers=other).status_code == 404
    assert app_client.patch(path, json={"name": "x"}, headers=other).status_code == 404
    attach = app_client.post(f"{path}/plan", json={"plan": "support-agent"}, headers=other)
    assert attach.status_code == 404
    assert attach.json()["detail"] == f"No customer '{theirs['id']}'."
    assert app_client.get("/v1/customers", headers=other).json()["data"] == []
    by_external = app_client.get("/v1/customers?external_id=acme", headers=other).json()
    assert by_external["data"] == []
    # the intruder may use the same external id for its own, unrelated customer
    assert _create(app_client, other, "acme")["id"] != theirs["id"]
    assert app_client.get(path, headers=auth).json()["name"] is None


def test_a_vendor_cannot_attach_another_vendors_plan(
    app_client: Any, engine: Engine, vendor: NewVendor
) -> None:
    plan = _store_plan(engine, vendor, "support-agent", versions=1)
    intruder = make_vendor(engine, "Intruder")
    other = bearer(intruder.api_key)
    mine = _create(app_client, other, "acme")
    response = app_client.post(
        f"/v1/customers/{mine['id']}/plan", json={"plan": plan.id}, headers=other
    )
    assert (response.status_code, response.json()["detail"]) == (404, f"No plan '{plan.id}'.")


def test_attaching_a_plan_rederives_events_stored_before(
    app_client: Any, auth: dict[str, str], engine: Engine, vendor: NewVendor
) -> None:
    with Session(engine) as session:
        upload(
            session,
            vendor.vendor,
            (EXAMPLES / "support-agent.yaml").read_text(),
            "support-agent.yaml",
        )
        session.commit()
    event = {
        "id": "evt_1",
        "type": "conversation.resolved",
        "customer": "acme",
        "timestamp": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
        "properties": {"conversation_id": "c-1", "channel": "chat", "handled_by": "ai"},
    }
    sent = app_client.post("/v1/events", json=event, headers=auth)
    assert sent.status_code == 201, sent.text
    assert app_client.get("/v1/events/evt_1", headers=auth).json()["status"] == "unmatched"
    customer = app_client.get("/v1/customers?external_id=acme", headers=auth).json()["data"][0]
    assert customer["status"] == "unprovisioned"
    attached = app_client.post(
        f"/v1/customers/{customer['id']}/plan", json={"plan": "support-agent"}, headers=auth
    )
    assert attached.status_code == 200
    assert app_client.get("/v1/events/evt_1", headers=auth).json()["status"] == "counted"
