"""Bad input never reaches the database: a 422 naming the field, on SQLite and PostgreSQL.

Each input here was a 500 on PostgreSQL (or on both): text with a NUL character or an
unpaired surrogate, JSON nested too deep, numbers and instants no column holds, a control
character in a rule file. In a batch, a bad event is refused by itself and the others are
stored.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from tests.metering.conftest import VendorFixture, create_customer
from tests.metering.ledger.events.helpers import auth, recent, resolved, signed, table

NUL = "\u0000"
SURROGATE = "\ud800"


def _post(client: TestClient, path: str, payload: Any, key: str, method: str = "POST") -> Any:
    """`payload` written with Python's json (which keeps NaN, lone surrogates and NUL as
    escapes), or sent as it is when already text."""
    content = payload if isinstance(payload, str) else json.dumps(payload)
    headers = {**auth(key), "content-type": "application/json"}
    return client.request(method, path, content=content, headers=headers)


def _nested(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


def _refused(response: Any, field: str, says: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "/problems/invalid-request"
    assert problem["errors"][0]["field"] == field
    assert says in problem["errors"][0]["message"]
    assert problem["detail"].startswith(f"{field}: ")


def _events(engine: Engine) -> list[tuple[Any, ...]]:
    return table(engine, "events", "event_id", "status", order="event_id")


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"id": f"evt{NUL}1"}, "id", "NUL character"),
        ({"id": f"evt{SURROGATE}1"}, "id", "unpaired surrogate (\\ud800)"),
        ({"customer": f"ac{NUL}me"}, "customer", "NUL character"),
        (
            {"properties": {"conversation_id": f"c{NUL}", "channel": "chat", "handled_by": "ai"}},
            "properties.conversation_id",
            "NUL character",
        ),
        ({"properties": {f"k{NUL}": 1}}, "properties", "a member name contains a NUL"),
        ({"properties": {"amount": float("nan")}}, "properties.amount", "not a finite number"),
        (
            {"timestamp": "0001-01-01T00:00:00+01:00"},
            "timestamp",
            "outside the years 1 to 9999",
        ),
    ],
)
def test_one_event_no_column_can_hold_is_a_422_naming_the_field(
    app_client: TestClient,
    engine: Engine,
    vendor: VendorFixture,
    plan_id: str,
    change: dict[str, Any],
    field: str,
    says: str,
) -> None:
    create_customer(engine, vendor.id, "acme", plan_id)
    response = _post(app_client, "/v1/events", resolved("evt_1", "c-1") | change, vendor.api_key)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"] == "/problems/invalid-event"
    [rejected] = problem["rejected"]
    assert rejected["detail"].startswith(f"{field}: ")
    assert says in rejected["detail"]
    assert _events(engine) == []


def test_in_a_batch_each_bad_event_is_refused_by_itself_and_the_others_are_stored(
    app_client: TestClient, engine: Engine, vendor: VendorFixture, plan_id: str
) -> None:
    create_customer(engine, vendor.id, "acme", plan_id)
    items = [
        json.dumps(resolved("evt_ok_1", "c-1")),
        json.dumps(resolved(f"evt{NUL}", "c-2")),
        json.dumps(resolved("evt_deep_40", "c-3") | {"properties": "DEEP40"}),
        json.dumps(resolved("evt_surrogate", f"c{SURROGATE}")),
        json.dumps(resolved("evt_deep_1000", "c-4") | {"properties": "DEEP1000"}),
        json.dumps(resolved("evt_ok_2", "c-5", depth={"a": {"b": {"c": 1}}})),
    ]
    text = '{"events": [' + ", ".join(items) + "]}"
    text = text.replace('"DEEP40"', _nested(40)).replace('"DEEP1000"', _nested(1000))
    response = _post(app_client, "/v1/events", text, vendor.api_key)

    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["accepted"] == 2
    assert [(r["index"], r["id"], r["detail"]) for r in answer["rejected"]] == [
        (1, None, "id: contains a NUL character (\\u0000), which cannot be stored"),
        (2, "evt_deep_40", "properties: JSON nested more than 32 levels deep"),
        (
            3,
            "evt_surrogate",
            "properties.conversation_id: contains an unpaired surrogate (\\ud800), which is "
            "not Unicode text",
        ),
        (4, "evt_deep_1000", "properties: JSON nested more than 32 levels deep"),
    ]
    assert _events(engine) == [("evt_ok_1", "counted"), ("evt_ok_2", "counted")]


def test_the_signed_webhook_door_refuses_a_bad_event_of_a_batch_by_itself(
    app_client: TestClient, engine: Engine, vendor: VendorFixture, plan_id: str
) -> None:
    create_customer(engine, vendor.id, "acme", plan_id)
    events = [resolved("evt_ok", "c-1"), resolved("evt_bad", "c-2", note=f"x{NUL}")]
    payload = json.dumps({"events": events}).encode()
    response = app_client.post(
        f"/v1/webhooks/{vendor.id}/events",
        content=payload,
        headers=signed(vendor.signing_secret, payload),
    )
    assert response.status_code == 200, response.text
    [rejected] = response.json()["rejected"]
    assert rejected["index"] == 1
    assert rejected["detail"].startswith("properties.note: contains a NUL character")
    assert _events(engine) == [("evt_ok", "counted")]


def test_a_measured_value_no_amount_column_holds_is_stored_as_a_problem(
    app_client: TestClient, engine: Engine, vendor: VendorFixture, plan_id: str
) -> None:
    create_customer(engine, vendor.id, "acme", plan_id)
    deal = {
        "id": "evt_deal",
        "type": "deal.closed",
        "customer": "acme",
        "timestamp": recent(),
        "properties": {"amount": "AMOUNT"},
    }
    text = json.dumps(deal).replace('"AMOUNT"', "1e30")
    response = _post(app_client, "/v1/events", text, vendor.api_key)
    assert response.status_code == 201, response.text
    assert response.json()["events"] == [{"index": 0, "id": "evt_deal", "status": "problem"}]
    [(value, problem)] = table(engine, "outcomes", "value", "problem")
    assert value is None
    assert problem == "measured value 1E+30 is beyond what an amount holds (under 10^26)"


@pytest.mark.parametrize(
    ("method", "path", "payload", "field", "says"),
    [
        ("POST", "/v1/customers", {"external_id": f"x{NUL}"}, "external_id", "NUL character"),
        ("POST", "/v1/customers", {"external_id": "x", "name": f"A{NUL}"}, "name", "NUL"),
        (
            "POST",
            "/v1/customers",
            {"external_id": "x", "name": f"A{SURROGATE}"},
            "name",
            "unpaired surrogate",
        ),
        (
            "PATCH",
            "/v1/vendor/portal",
            {"portal_name": f"Acme{NUL}"},
            "portal_name",
            "NUL character",
        ),
        ("GET", "/v1/customers/a%00b", None, "path parameter customer_id", "NUL character"),
        ("GET", "/v1/plans/a%00b", None, "path parameter plan_ref", "NUL character"),
        ("GET", "/v1/events?customer=a%00b", None, "query parameter customer", "NUL character"),
        ("GET", "/v1/events?type=a%00b", None, "query parameter type", "NUL character"),
        ("GET", "/v1/invoices?customer=a%00b", None, "query parameter customer", "NUL"),
        (
            "GET",
            "/v1/events?from=0001-01-01T00:00:00%2B01:00",
            None,
            "query parameter from",
            "outside the years 1 to 9999",
        ),
        (
            "GET",
            "/v1/plans/support-agent/versions/99999999999",
            None,
            "path parameter number",
            "less than or equal to 2147483647",
        ),
        (
            "POST",
            "/v1/customers",
            '{"external_id": ' + "[" * 40 + "]" * 40 + "}",
            "external_id",
            "JSON nested more than 32 levels deep",
        ),
    ],
)
def test_text_numbers_and_nesting_no_column_holds_are_refused_at_the_edge(
    app_client: TestClient,
    engine: Engine,
    vendor: VendorFixture,
    plan_id: str,
    method: str,
    path: str,
    payload: Any,
    field: str,
    says: str,
) -> None:
    if payload is None:
        response = app_client.request(method, path, headers=auth(vendor.api_key))
    else:
        response = _post(app_client, path, payload, vendor.api_key, method)
    _refused(response, field, says)
    assert table(engine, "customers", "external_id") == []


def test_a_body_too_deep_to_decode_is_a_422(app_client: TestClient, vendor: VendorFixture) -> None:
    deep = '{"external_id": ' + "[" * 5000 + "]" * 5000 + "}"
    response = _post(app_client, "/v1/customers", deep, vendor.api_key)
    assert response.status_code == 422
    assert response.json()["detail"].startswith("body: JSON nested far more than 32 levels")


def test_a_plan_version_no_column_holds_is_refused(
    app_client: TestClient, engine: Engine, vendor: VendorFixture, plan_id: str
) -> None:
    customer_id = create_customer(engine, vendor.id, "acme")
    path = f"/v1/customers/{customer_id}/plan"
    for plan in ("x", "support-agent"):
        for version in (355687428096001, 54859563636148600832):
            response = _post(app_client, path, {"plan": plan, "version": version}, vendor.api_key)
            _refused(response, "version", "less than or equal to 2147483647")
    response = _post(app_client, path, {"plan": f"a\u00ec{NUL}Q"}, vendor.api_key)
    _refused(response, "plan", "NUL character")
    assert table(engine, "subscriptions", "id") == []


@pytest.mark.parametrize("threshold", ['"1e26"', "1e30", "1e308", '"NaN"', "1E+400"])
def test_an_alert_threshold_no_amount_column_holds_is_refused(
    app_client: TestClient, engine: Engine, vendor: VendorFixture, threshold: str
) -> None:
    customer_id = create_customer(engine, vendor.id, "acme")
    payload = f'{{"kind": "spend", "threshold": {threshold}, "customer": "{customer_id}"}}'
    response = _post(app_client, "/v1/alerts", payload, vendor.api_key)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "threshold"
    assert table(engine, "alert_rules", "id") == []


@pytest.mark.parametrize(
    ("yaml", "line", "column", "says"),
    [
        ("\f", 1, 1, "the character U+000C is not allowed in YAML"),
        ("plan: p\nversion: 1\ncurrency: usd\nbilling:\n  timezone: UT\x14C\n", 5, 15, "U+0014"),
        ("plan: p\x9e\n", 1, 8, "the character U+009E is not allowed in YAML"),
        ("plan: p\nversion: 1\x00\n", 2, 11, "the character U+0000 is not allowed in YAML"),
        (
            "plan: p\nversion: 355687428096001\ncurrency: usd\n"
            "charges:\n  - {name: Fee, model: flat, price: '1'}\n",
            2,
            10,
            "at most 2147483647",
        ),
    ],
)
def test_a_rule_file_character_or_version_no_column_holds_is_a_located_error(
    app_client: TestClient,
    engine: Engine,
    vendor: VendorFixture,
    yaml: str,
    line: int,
    column: int,
    says: str,
) -> None:
    response = _post(app_client, "/v1/plans", {"yaml": yaml}, vendor.api_key)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"] == "/problems/invalid-rule-file"
    [error] = problem["errors"]
    assert (error["line"], error["column"]) == (line, column)
    assert says in error["message"]
    assert table(engine, "plans", "id") == []


def test_a_form_field_with_a_nul_is_refused_as_a_page_naming_it(app_client: TestClient) -> None:
    response = app_client.post(
        "/vendor/login", data={"api_key": f"key{NUL}", "csrf_token": "t", "next": "/vendor/margin"}
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    assert "api_key: contains a NUL character" in response.text
