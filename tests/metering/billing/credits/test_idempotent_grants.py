"""A grant or an adjustment is made once per Idempotency-Key: a client that lost the answer
and sends the request again gets the same grant back, never a second one; the same key with
another body is refused; no key at all is refused (both DBs)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from tests.metering.billing.credits.helpers import RULES, assert_ledger_right
from tests.metering.billing.credits.test_credits_api import stored
from tests.metering.conftest import VendorFixture, create_customer, create_plan
from tests.metering.platform.api.support import bearer

BODY = {"amount": "50.00", "category": "paid", "name": "Pack"}


def _customer(engine: Engine, vendor: VendorFixture) -> str:
    return create_customer(engine, vendor.id, "acme", create_plan(engine, vendor.id, RULES))


def _headers(vendor: VendorFixture, key: str) -> dict[str, str]:
    return {**bearer(vendor.api_key), "Idempotency-Key": key}


def test_a_repeated_grant_request_returns_the_first_grant(
    app_client: TestClient, engine: Engine, vendor: VendorFixture
) -> None:
    path = f"/v1/customers/{_customer(engine, vendor)}/credit_grants"
    first = app_client.post(path, json=BODY, headers=_headers(vendor, "grant-1"))
    again = app_client.post(path, json=BODY, headers=_headers(vendor, "grant-1"))

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert stored(engine) == (1, 1)
    other = app_client.post(path, json=BODY, headers=_headers(vendor, "grant-2"))
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]
    assert stored(engine) == (2, 2)
    assert_ledger_right(engine)


def test_a_key_reused_with_another_body_is_refused_and_writes_nothing(
    app_client: TestClient, engine: Engine, vendor: VendorFixture
) -> None:
    path = f"/v1/customers/{_customer(engine, vendor)}/credit_grants"
    assert app_client.post(path, json=BODY, headers=_headers(vendor, "k")).status_code == 201

    reused = app_client.post(path, json={**BODY, "amount": "500.00"}, headers=_headers(vendor, "k"))

    assert reused.status_code == 409
    problem = reused.json()
    assert problem["type"] == "/problems/idempotency-key-reused"
    assert problem["errors"] == [{"field": "Idempotency-Key", "message": "used with another body"}]
    assert stored(engine) == (1, 1)


def test_a_grant_request_without_a_key_is_refused(
    app_client: TestClient, engine: Engine, vendor: VendorFixture
) -> None:
    path = f"/v1/customers/{_customer(engine, vendor)}/credit_grants"
    refused = app_client.post(path, json=BODY, headers=bearer(vendor.api_key))
    assert refused.status_code == 422
    assert "Idempotency-Key" in refused.text
    assert stored(engine) == (0, 0)


def test_a_repeated_adjustment_adjusts_once(
    app_client: TestClient, engine: Engine, vendor: VendorFixture
) -> None:
    path = f"/v1/customers/{_customer(engine, vendor)}/credit_grants"
    grant = app_client.post(path, json=BODY, headers=_headers(vendor, "g")).json()
    adjust = f"/v1/credit_grants/{grant['id']}/adjustments"
    body = {"amount": "-20.00", "reason": "goodwill taken back"}

    answers = [app_client.post(adjust, json=body, headers=_headers(vendor, "a")) for _ in range(3)]

    assert [a.status_code for a in answers] == [200, 200, 200]
    assert {a.json()["remaining"] for a in answers} == {"30.00"}
    assert stored(engine) == (1, 2)
    assert_ledger_right(engine)


def test_concurrent_repeats_make_one_grant(
    app_client: TestClient, engine: Engine, vendor: VendorFixture
) -> None:
    path = f"/v1/customers/{_customer(engine, vendor)}/credit_grants"

    def send(_: int) -> tuple[int, str]:
        answer = app_client.post(path, json=BODY, headers=_headers(vendor, "race"))
        return answer.status_code, answer.json()["id"]

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(send, range(8)))

    assert {status for status, _ in answers} == {201}
    assert len({grant for _, grant in answers}) == 1
    assert stored(engine) == (1, 1)
    assert_ledger_right(engine)
