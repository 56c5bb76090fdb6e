"""`POST /v1/plans/{plan}/simulate` as a vendor calls it (both DBs)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine

from tests.metering.billing.invoices.helpers import RULES, invoices
from tests.metering.conftest import VendorFixture, create_plan, create_vendor
from tests.metering.platform.api.support import bearer
from tests.metering.surfaces.simulation.fingerprint import fingerprint
from tests.metering.surfaces.simulation.support import PROPOSED, between, billed_october

YAML = {"content-type": "application/yaml"}


def post(client: Any, plan: str, key: str, body: str, start: str, end: str) -> Any:
    return client.post(
        f"/v1/plans/{plan}/simulate",
        params={"from": start, "to": end},
        content=body,
        headers=bearer(key) | YAML,
    )


def test_a_proposal_is_simulated_and_nothing_is_written(
    engine: Engine, vendor: VendorFixture, app_client: Any
) -> None:
    billed_october(engine, vendor.id)
    before = fingerprint(engine)

    response = post(app_client, "support-agent", vendor.api_key, PROPOSED, *between())

    assert response.status_code == 200, response.text
    document = response.json()
    assert document["total"] == {
        "current": "88.98",
        "proposed": "93.54",
        "difference": "4.56",
        "percent_change": "5.12",
    }
    assert [(c["customer"], c["proposed"]) for c in document["customers"]] == [
        ("acme", "43.54"),
        ("globex", "25.00"),
        ("initech", "25.00"),
    ]
    assert {(e["event_id"], e["current"], e["proposed"]) for e in document["examples"]} == {
        ("phone", "excluded by where", "counted"),
        ("r2", "reversed", "counted"),
    }
    assert fingerprint(engine) == before


def test_unchanged_rules_as_json_body_cost_what_the_invoices_billed(
    engine: Engine, vendor: VendorFixture, app_client: Any
) -> None:
    history = billed_october(engine, vendor.id)
    start, end = between()

    response = app_client.post(
        f"/v1/plans/{history.plan_id}/simulate",
        params={"from": start, "to": end},
        json={"yaml": RULES},
        headers=bearer(vendor.api_key),
    )

    assert response.status_code == 200, response.text
    issued = {i.customer_id: f"{i.total:.2f}" for i in invoices(engine)}
    assert {c["customer_id"]: c["current"] for c in response.json()["customers"]} == issued
    assert response.json()["total"]["difference"] == "0.00"


def test_a_bad_rule_file_is_a_422_listing_lines_and_columns(
    engine: Engine, vendor: VendorFixture, app_client: Any
) -> None:
    billed_october(engine, vendor.id)
    broken = PROPOSED.replace("model: graduated", "model: graduatd").replace(
        "currency: usd", "currency: usdollar"
    )

    response = post(app_client, "support-agent", vendor.api_key, broken, *between())

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    errors = response.json()["errors"]
    assert [(e["file"], e["line"]) for e in errors] == [("proposed.yaml", 3), ("proposed.yaml", 19)]
    assert errors[1]["column"] == 12 and "graduatd" in errors[1]["message"]


def test_unknown_plans_and_other_vendors_plans_are_404(
    engine: Engine, vendor: VendorFixture, app_client: Any
) -> None:
    billed_october(engine, vendor.id)
    other = create_vendor(engine, "Globex AI")
    create_plan(engine, other.id, RULES.replace("support-agent", "theirs"))

    for plan in ("no-such-plan", "theirs"):
        response = post(app_client, plan, vendor.api_key, PROPOSED, *between())
        assert response.status_code == 404
        assert response.json()["detail"] == f"No plan '{plan}'."


def test_bad_ranges_are_422(engine: Engine, vendor: VendorFixture, app_client: Any) -> None:
    billed_october(engine, vendor.id)
    start, end = between()
    cases = {
        (end, start): "'from' must be before 'to'.",
        (start, start): "'from' must be before 'to'.",
        ("2024-01-01T00:00:00Z", end): "The range is 1035 days; at most 366 days",
        ("2026-10-01T00:00:00", end): "'from' needs a timezone",
    }
    for (since, until), detail in cases.items():
        response = post(app_client, "support-agent", vendor.api_key, PROPOSED, since, until)
        assert response.status_code == 422, (since, until)
        assert detail in response.json()["detail"]


def test_another_currency_is_a_422(engine: Engine, vendor: VendorFixture, app_client: Any) -> None:
    billed_october(engine, vendor.id)
    euros = PROPOSED.replace("currency: usd", "currency: eur")

    response = post(app_client, "support-agent", vendor.api_key, euros, *between())

    assert response.status_code == 422
    assert "cannot be compared" in response.json()["detail"]


def test_a_vendor_key_is_required(engine: Engine, vendor: VendorFixture, app_client: Any) -> None:
    start, end = between()
    response = app_client.post(
        "/v1/plans/support-agent/simulate",
        params={"from": start, "to": end},
        content=PROPOSED,
        headers=YAML,
    )
    assert response.status_code == 401
