"""Every list's `customer` filter takes our id or the vendor's own, and an unknown one is a 404.

An empty list for a customer the vendor names by its own id reads as "no invoices"; the
filter answers as `/v1/customers/{id}` does instead.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from metering.catalog.customers.models import Customer
from metering.ledger.disputes.service import file
from metering.ledger.outcomes.models import Outcome
from tests.metering.billing.invoices.helpers import (
    OCTOBER,
    RULES,
    at,
    close,
    deal,
    resolution,
    send,
)
from tests.metering.conftest import VendorFixture, create_customer, create_plan, create_vendor
from tests.metering.platform.api.support import bearer

LISTS = [
    ("/v1/invoices", {}),
    ("/v1/events", {}),
    ("/v1/disputes", {}),
    ("/v1/alert_firings", {}),
    ("/v1/reports/margin", {"period": "2026-10"}),
]


def october_of_acme(engine: Engine, vendor: VendorFixture) -> str:
    """acme's October: two conversations and a deal, closed, one outcome disputed."""
    plan = create_plan(engine, vendor.id, RULES)
    acme = create_customer(engine, vendor.id, "acme", plan, starts_at=OCTOBER)
    create_customer(engine, vendor.id, "globex", plan, starts_at=OCTOBER)
    events = [resolution("r1", at(1), "c1"), resolution("r2", at(2), "c2")]
    send(engine, vendor.id, [*events, deal("d1", at(3), "100.00")], at(25))
    send(engine, vendor.id, [resolution("g1", at(4), "c9", customer="globex")], at(25))
    close(engine, at(5, month=11))
    with Session(engine) as session:
        customer = session.get(Customer, acme)
        assert customer is not None
        row = session.exec(select(Outcome).where(Outcome.event_id == "r1")).one()
        assert row.id is not None
        file(session, customer, row.id, "not resolved", at(6, month=11))
        session.commit()
    return acme


def listed(client: TestClient, vendor: VendorFixture, path: str, params: dict[str, str]) -> Any:
    response = client.get(path, params=params, headers=bearer(vendor.api_key))
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize(("path", "extra"), LISTS)
def test_our_id_and_the_vendors_id_list_the_same(
    app_client: TestClient, engine: Engine, vendor: VendorFixture, path: str, extra: dict[str, str]
) -> None:
    acme = october_of_acme(engine, vendor)

    by_ours = listed(app_client, vendor, path, {**extra, "customer": acme})
    by_theirs = listed(app_client, vendor, path, {**extra, "customer": "acme"})

    by_ours.pop("as_of", None)  # the margin report says when it was read
    by_theirs.pop("as_of", None)
    assert by_theirs == by_ours
    if path == "/v1/reports/margin":
        assert [c["customer_id"] for c in by_ours["customers"]] == [acme]
    elif path == "/v1/alert_firings":
        assert by_ours["data"] == []
    else:
        assert by_ours["data"] and {row["customer_id"] for row in by_ours["data"]} == {acme}


def test_the_events_filter_keeps_only_that_customers_events(
    app_client: TestClient, engine: Engine, vendor: VendorFixture
) -> None:
    october_of_acme(engine, vendor)
    events = listed(app_client, vendor, "/v1/events", {"customer": "acme"})["data"]
    invoices = listed(app_client, vendor, "/v1/invoices", {"customer": "acme"})["data"]

    assert sorted(event["id"] for event in events) == ["d1", "r1", "r2"]
    assert [invoice["total"] for invoice in invoices] == ["25.00"]  # the minimum


@pytest.mark.parametrize(("path", "extra"), LISTS)
def test_an_unknown_customer_is_a_404_not_an_empty_list(
    app_client: TestClient, engine: Engine, vendor: VendorFixture, path: str, extra: dict[str, str]
) -> None:
    october_of_acme(engine, vendor)
    other = create_vendor(engine, "Other AI")

    for reference, key in (("nobody", vendor.api_key), ("acme", other.api_key)):
        response = app_client.get(
            path, params={**extra, "customer": reference}, headers=bearer(key)
        )
        assert response.status_code == 404, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"] == f"No customer '{reference}'."
