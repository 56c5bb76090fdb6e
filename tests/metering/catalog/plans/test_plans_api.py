"""Rule files uploaded as immutable plan versions, listed and read back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from metering.catalog.plans.models import PlanVersion
from metering.catalog.plans.schemas import RULE_FILE_EXAMPLE
from metering.catalog.vendors.service import NewVendor
from metering.platform.settings import Settings
from metering.surfaces.app import create_app
from pricing_rules.errors import RuleFileError
from pricing_rules.loader import load_rules
from tests.metering.platform.api.support import bearer, make_vendor

EXAMPLES = Path(__file__).resolve().parents[4] / "pricing_rules" / "examples"
YAML = {"content-type": "application/yaml"}

RULES = """\
plan: support
version: {version}
currency: usd
charges:
  - {{name: Platform fee, model: flat, price: "{price}"}}
"""

BROKEN = """\
plan: support
version: 1
currency: usx
bogus: 1
charges:
  - {model: flat, price: "abc"}
"""


def rules(version: int = 1, price: str = "20.00") -> str:
    return RULES.format(version=version, price=price)


@pytest.fixture
def vendor(engine: Engine) -> NewVendor:
    return make_vendor(engine)


@pytest.fixture
def auth(vendor: NewVendor) -> dict[str, str]:
    return bearer(vendor.api_key)


def _upload(client: Any, auth: dict[str, str], text: str, status: int = 201) -> Any:
    response = client.post("/v1/plans", content=text.encode(), headers={**auth, **YAML})
    assert response.status_code == status, response.text
    return response.json()


def _version_count(engine: Engine) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(PlanVersion)).one()


def test_upload_yaml_makes_version_one(app_client: Any, auth: dict[str, str]) -> None:
    text = (EXAMPLES / "support-agent.yaml").read_text()
    body = _upload(app_client, auth, text)
    assert (body["plan"], body["version"], body["yaml"]) == ("support-agent", 1, text)
    assert body["plan_id"].startswith("pln_")
    assert body["rules"]["charges"][0]["tiers"][0]["unit_price"] == "0.99"


def test_upload_as_json(app_client: Any, auth: dict[str, str]) -> None:
    response = app_client.post("/v1/plans", json={"yaml": rules()}, headers=auth)
    assert (response.status_code, response.json()["version"]) == (201, 1)


def test_every_example_plan_uploads(app_client: Any, auth: dict[str, str]) -> None:
    slugs = [
        _upload(app_client, auth, path.read_text())["plan"]
        for path in sorted(EXAMPLES.glob("*.yaml"))
    ]
    assert slugs == ["deal-value", "sales-agent", "support-agent", "support-outcomes"]


def test_the_same_yaml_again_is_idempotent(
    app_client: Any, auth: dict[str, str], engine: Engine
) -> None:
    first = _upload(app_client, auth, rules())
    again = _upload(app_client, auth, rules(), status=200)
    assert again == first
    assert _version_count(engine) == 1


def test_other_yaml_under_an_existing_version_is_a_409(
    app_client: Any, auth: dict[str, str], engine: Engine
) -> None:
    _upload(app_client, auth, rules())
    response = app_client.post(
        "/v1/plans", content=rules(price="25.00").encode(), headers={**auth, **YAML}
    )
    assert response.status_code == 409
    assert response.json()["detail"] == (
        "Version 1 of plan 'support' already exists with different YAML; versions are "
        "immutable, so upload the change as a new version number."
    )
    assert _version_count(engine) == 1


def test_a_new_version_number_is_a_new_version(app_client: Any, auth: dict[str, str]) -> None:
    one = _upload(app_client, auth, rules(1))
    two = _upload(app_client, auth, rules(2, "25.00"))
    assert two["plan_id"] == one["plan_id"]
    plan = app_client.get(f"/v1/plans/{one['plan_id']}", headers=auth).json()
    assert (plan["slug"], plan["latest_version"]) == ("support", 2)


def test_errors_are_listed_with_line_and_column_as_rules_check_prints_them(
    app_client: Any, auth: dict[str, str], engine: Engine
) -> None:
    response = app_client.post(
        "/v1/plans?filename=support.yaml", content=BROKEN.encode(), headers={**auth, **YAML}
    )
    assert response.status_code == 422
    body = response.json()
    assert body["title"] == "Invalid Rule File"
    assert [(e["line"], e["column"]) for e in body["errors"]] == [(3, 11), (4, 1), (6, 26)]
    assert body["errors"][1]["message"].startswith("unknown key 'bogus' at the top level")
    with pytest.raises(RuleFileError) as checked:
        load_rules(BROKEN, "support.yaml")
    assert body["detail"] == str(checked.value)
    assert body["detail"].splitlines()[0] == (
        "support.yaml:3:11: unknown currency 'usx'; expected an ISO 4217 code such as usd, "
        "eur or jpy"
    )
    assert _version_count(engine) == 0


def test_invalid_yaml_syntax_is_located(app_client: Any, auth: dict[str, str]) -> None:
    response = app_client.post(
        "/v1/plans", content=b"plan: support\nversion: [1\n", headers={**auth, **YAML}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["line"] == 3
    assert response.json()["errors"][0]["file"] == "rules.yaml"


def test_unsupported_media_type_and_bad_json_envelope(
    app_client: Any, auth: dict[str, str]
) -> None:
    text = app_client.post(
        "/v1/plans", content=rules().encode(), headers={**auth, "content-type": "text/plain"}
    )
    assert text.status_code == 415
    assert text.json()["detail"].startswith("Content-Type 'text/plain' is not accepted")
    envelope = app_client.post("/v1/plans", json={"rules": rules()}, headers=auth)
    assert envelope.status_code == 422
    assert envelope.json()["detail"].startswith('Send the rule file as JSON {"yaml": "..."}')


def test_a_body_over_the_limit_is_a_413(database_url: str, vendor: NewVendor) -> None:
    app = create_app(Settings(database_url=database_url, max_body_bytes=64))
    with TestClient(app) as client:
        response = client.post(
            "/v1/plans", content=rules().encode(), headers={**bearer(vendor.api_key), **YAML}
        )
    assert response.status_code == 413
    assert response.json()["detail"] == "The body exceeds the limit of 64 bytes."


def test_list_plans_and_page_through_versions(app_client: Any, auth: dict[str, str]) -> None:
    for version in range(1, 6):
        _upload(app_client, auth, rules(version))
    _upload(app_client, auth, (EXAMPLES / "deal-value.yaml").read_text())
    plans = app_client.get("/v1/plans", headers=auth).json()
    assert [(p["slug"], p["latest_version"]) for p in plans["data"]] == [
        ("support", 5),
        ("deal-value", 1),
    ]
    numbers: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = app_client.get("/v1/plans/support/versions", params=params, headers=auth).json()
        numbers += [version["version"] for version in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert numbers == [1, 2, 3, 4, 5]


def test_get_a_version_as_json_or_as_the_yaml_uploaded(
    app_client: Any, auth: dict[str, str]
) -> None:
    text = "# our support plan\n" + rules(1)
    plan_id = _upload(app_client, auth, text)["plan_id"]
    as_json = app_client.get(f"/v1/plans/{plan_id}/versions/1", headers=auth)
    assert (as_json.json()["version"], as_json.json()["yaml"]) == (1, text)
    as_file = app_client.get("/v1/plans/support/versions/1.yaml", headers=auth)
    assert as_file.headers["content-type"].startswith("application/yaml")
    assert as_file.text == text
    accepted = app_client.get(
        "/v1/plans/support/versions/1", headers={**auth, "accept": "application/yaml"}
    )
    assert accepted.text == text
    missing = app_client.get("/v1/plans/support/versions/9", headers=auth)
    assert (missing.status_code, missing.json()["detail"]) == (
        404,
        "No version 9 of plan 'support'.",
    )


def test_another_vendors_plans_are_404(
    app_client: Any, auth: dict[str, str], engine: Engine
) -> None:
    plan_id = _upload(app_client, auth, rules())["plan_id"]
    other = bearer(make_vendor(engine, "Intruder").api_key)
    for path in (
        f"/v1/plans/{plan_id}",
        "/v1/plans/support",
        f"/v1/plans/{plan_id}/versions",
        f"/v1/plans/{plan_id}/versions/1",
        "/v1/plans/support/versions/1.yaml",
    ):
        response = app_client.get(path, headers=other)
        assert response.status_code == 404, path
    assert app_client.get("/v1/plans", headers=other).json()["data"] == []
    # the same slug and version under another vendor is that vendor's own plan
    theirs = _upload(app_client, other, rules(price="99.00"))
    assert theirs["plan_id"] != plan_id
    mine = app_client.get("/v1/plans/support/versions/1", headers=auth).json()
    assert mine["rules"]["charges"][0]["price"] == "20.00"


def test_the_documented_example_is_a_valid_rule_file() -> None:
    assert load_rules(RULE_FILE_EXAMPLE, "example.yaml").plan == "support-agent"
