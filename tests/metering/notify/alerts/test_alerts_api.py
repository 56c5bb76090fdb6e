"""`/v1/alerts` and `/v1/alert_firings`: rules checked when made, listed, deleted, scoped."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine

from tests.metering.billing.invoices.helpers import RULES as NO_MAXIMUM
from tests.metering.conftest import VendorFixture, create_customer, create_plan, create_vendor
from tests.metering.notify.alerts.helpers import at, fire, resolutions, rules, send
from tests.metering.platform.api.support import bearer

OCTOBER = at(1, 10, 0)


def post(client: Any, vendor: VendorFixture, **body: Any) -> Any:
    return client.post("/v1/alerts", json=body, headers=bearer(vendor.api_key))


def test_alerts_are_checked_against_what_they_watch(
    engine: Engine, app_client: Any, vendor: VendorFixture
) -> None:
    plan = create_plan(engine, vendor.id, rules())
    bare = create_plan(engine, vendor.id, NO_MAXIMUM)
    acme = create_customer(engine, vendor.id, "acme", plan, OCTOBER)

    both = post(app_client, vendor, kind="spend", threshold="10", customer=acme, plan=plan)
    assert both.status_code == 422 and "exactly one of customer and plan" in both.text
    assert post(app_client, vendor, kind="spend", threshold="10").status_code == 422
    assert post(app_client, vendor, kind="spend", threshold="0", plan=plan).status_code == 422
    assert (
        post(app_client, vendor, kind="outcome_count", threshold="2.5", plan=plan).status_code
        == 422
    )
    unknown = post(
        app_client, vendor, kind="outcome_count", threshold="3", plan=plan, outcome="deal"
    )
    assert unknown.status_code == 422
    assert unknown.json()["detail"] == (
        "Plan 'alerting' has no outcome 'deal' "
        "(its outcomes: qualified_lead, resolved_conversation)."
    )
    no_max = post(app_client, vendor, kind="maximum_percent", threshold="80", plan=bare)
    assert no_max.status_code == 422 and "has no maximum" in no_max.json()["detail"]
    missing = post(app_client, vendor, kind="spend", threshold="10", customer="cus_nope")
    assert missing.status_code == 404

    made = post(app_client, vendor, kind="spend", threshold="12.50", customer=acme, name="big")
    assert made.status_code == 201
    assert made.json() | {"id": None, "created_at": None} == {
        "id": None,
        "kind": "spend",
        "threshold": "12.5",
        "customer_id": acme,
        "plan_id": None,
        "outcome": None,
        "name": "big",
        "created_at": None,
    }
    by_slug = post(app_client, vendor, kind="maximum_percent", threshold="80", plan="alerting")
    assert by_slug.status_code == 201 and by_slug.json()["plan_id"] == plan


def test_a_deleted_alert_stops_firing_and_its_firings_stay_listed(
    engine: Engine, app_client: Any, vendor: VendorFixture
) -> None:
    plan = create_plan(engine, vendor.id, rules())
    acme = create_customer(engine, vendor.id, "acme", plan, OCTOBER)
    alert = post(app_client, vendor, kind="spend", threshold="10.00", customer=acme).json()
    send(engine, vendor.id, resolutions("a", 2, at(3)), at(3))  # 10.00
    assert len(fire(engine, at(4))) == 1

    firings = app_client.get("/v1/alert_firings", headers=bearer(vendor.api_key)).json()
    assert [(f["rule_id"], f["kind"], f["figure"], f["threshold"]) for f in firings["data"]] == [
        (alert["id"], "spend", "10", "10")
    ]
    assert firings["data"][0]["period_start"] == "2026-10-01T00:00:00Z"

    gone = app_client.delete(f"/v1/alerts/{alert['id']}", headers=bearer(vendor.api_key))
    assert gone.status_code == 204
    assert app_client.get("/v1/alerts", headers=bearer(vendor.api_key)).json()["data"] == []
    assert (
        app_client.get(f"/v1/alerts/{alert['id']}", headers=bearer(vendor.api_key)).status_code
        == 404
    )
    send(engine, vendor.id, resolutions("b", 2, at(2, 11)), at(2, 11))  # November: 10.00
    assert fire(engine, at(3, 11)) == []
    listed = app_client.get(
        f"/v1/alert_firings?alert={alert['id']}", headers=bearer(vendor.api_key)
    ).json()
    assert len(listed["data"]) == 1


def test_another_vendors_alerts_are_404(
    engine: Engine, app_client: Any, vendor: VendorFixture
) -> None:
    plan = create_plan(engine, vendor.id, rules())
    alert = post(app_client, vendor, kind="spend", threshold="10", plan=plan).json()
    other = create_vendor(engine, "Other AI")
    assert (
        app_client.get(f"/v1/alerts/{alert['id']}", headers=bearer(other.api_key)).status_code
        == 404
    )
    assert (
        app_client.delete(f"/v1/alerts/{alert['id']}", headers=bearer(other.api_key)).status_code
        == 404
    )
    assert app_client.get("/v1/alerts", headers=bearer(other.api_key)).json()["data"] == []
    assert post(app_client, other, kind="spend", threshold="10", plan=plan).status_code == 404
