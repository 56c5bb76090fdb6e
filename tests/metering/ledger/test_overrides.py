"""Per-customer price books: an override over the plan version, from the next period or now."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.catalog.customers.models import Customer
from metering.catalog.plans import repository as plans
from metering.catalog.plans.models import Plan, PlanVersion
from metering.catalog.plans.service import upload
from metering.catalog.subscriptions.repository import of_customer
from metering.catalog.subscriptions.schemas import ApplyMode, Effective
from metering.catalog.vendors.models import Vendor
from metering.ledger.plan_changes.service import apply_version, give_override
from metering.surfaces.reports.service import margin_report
from metering.surfaces.simulation.service import simulate
from pricing_rules.errors import RuleFileError
from pricing_rules.loader import load_rules
from tests.metering.billing.invoices.helpers import (
    OCTOBER,
    at,
    close,
    invoices,
    iso,
    send,
    summary,
)
from tests.metering.conftest import VendorFixture, create_customer, create_plan
from tests.metering.platform.api.support import bearer

RULES = """\
plan: support
version: 1
currency: usd
billing: {interval: month, timezone: UTC, close_after: 72h}
outcomes:
  resolved: {event: conversation.resolved, unique_by: properties.conversation_id}
charges:
  - {name: Resolutions, outcome: resolved, model: per_unit, unit_price: "1.00"}
  - {name: Platform fee, model: flat, price: "10.00"}
minimum: "15.00"
"""

HALF_PRICE = """\
charges:
  Resolutions: {unit_price: "0.50"}
minimum: null
"""


def resolved(event_id: str, when: datetime) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "conversation.resolved",
        "customer": "acme",
        "timestamp": iso(when),
        "properties": {"conversation_id": event_id},
    }


@pytest.fixture
def acme(engine: Engine, vendor: VendorFixture) -> str:
    plan = create_plan(engine, vendor.id, RULES)
    return create_customer(engine, vendor.id, "acme", plan, starts_at=OCTOBER)


def override(  # type: ignore[no-untyped-def]
    engine: Engine, customer_id: str, text: str, when: Effective | datetime, now: datetime
):
    with Session(engine, expire_on_commit=False) as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None
        row = give_override(session, customer, text, "acme.yaml", when, now)
        session.commit()
        return row


def test_an_override_from_the_next_period_leaves_this_one_at_plan_prices(
    engine: Engine, vendor: VendorFixture, acme: str
) -> None:
    send(engine, vendor.id, [resolved(f"c{d}", at(d)) for d in (2, 5, 8)], at(9))
    row = override(engine, acme, HALF_PRICE, Effective.NEXT_PERIOD, at(10))
    assert (row.version, row.effective_from) == (1, at(1, 0, month=11))
    send(engine, vendor.id, [resolved("c12", at(12))], at(13))
    send(engine, vendor.id, [resolved(f"n{d}", at(d, month=11)) for d in (3, 4)], at(5, month=11))

    close(engine, at(5, month=11))
    close(engine, at(5, month=12))

    october, november = invoices(engine)
    assert summary(engine, october.id) == [
        ("charge", "Resolutions", "4.00"),  # 4 x 1.00, the plan's price
        ("charge", "Platform fee", "10.00"),
        ("minimum", "Minimum spend true-up", "1.00"),  # the plan's minimum 15.00
    ]
    assert summary(engine, november.id) == [
        ("charge", "Resolutions", "1.00"),  # 2 x 0.50, the override's price
        ("charge", "Platform fee", "10.00"),  # no minimum any more: 11.00
    ]
    assert november.total == Decimal("11.00")


def test_an_override_now_splits_the_period_and_prices_each_part_to_the_cent(
    engine: Engine, vendor: VendorFixture, acme: str
) -> None:
    send(engine, vendor.id, [resolved(f"c{d}", at(d)) for d in (2, 5, 8)], at(9))
    row = override(engine, acme, HALF_PRICE, Effective.IMMEDIATELY, at(10))
    assert row.effective_from == at(10)
    send(engine, vendor.id, [resolved(f"c{d}", at(d)) for d in (12, 15)], at(16))

    close(engine, at(5, month=11))

    before, after = sorted(invoices(engine), key=lambda invoice: invoice.period_start)
    assert (before.period_start, before.period_end) == (OCTOBER, at(10))
    assert summary(engine, before.id) == [
        ("charge", "Resolutions", "3.00"),
        ("charge", "Platform fee", "10.00"),
        ("minimum", "Minimum spend true-up", "2.00"),
    ]
    assert (after.period_start, after.period_end) == (at(10), at(1, 0, month=11))
    assert summary(engine, after.id) == [
        ("charge", "Resolutions", "1.00"),  # c12 and c15 at 0.50
        ("charge", "Platform fee", "10.00"),
    ]
    assert before.total + after.total == Decimal("26.00")


def test_an_override_now_derives_the_period_again_under_it(
    engine: Engine, vendor: VendorFixture, acme: str
) -> None:
    """A first override in the past period's time: the events already stored are matched
    again under the new version (same outcome rows, the new version's id)."""
    send(engine, vendor.id, [resolved(f"c{d}", at(d)) for d in (2, 5)], at(6))
    made = override(engine, acme, HALF_PRICE, Effective.IMMEDIATELY, at(1, 0))
    assert made.effective_from == OCTOBER
    close(engine, at(5, month=11))
    (october,) = invoices(engine)
    assert october.plan_version_id == made.plan_version_id
    assert summary(engine, october.id) == [
        ("charge", "Resolutions", "1.00"),
        ("charge", "Platform fee", "10.00"),
    ]


def test_a_later_override_replaces_the_earlier_over_the_same_plan_version(
    engine: Engine, vendor: VendorFixture, acme: str
) -> None:
    override(engine, acme, HALF_PRICE, Effective.IMMEDIATELY, at(10))
    second = override(
        engine, acme, "charges: {Resolutions: {free_units: 2}}\n", Effective.IMMEDIATELY, at(11)
    )
    send(engine, vendor.id, [resolved(f"c{d}", at(d)) for d in (12, 13, 14)], at(15))
    close(engine, at(5, month=11))
    last = max(invoices(engine), key=lambda invoice: invoice.period_start)
    assert second.version == 2
    assert summary(engine, last.id) == [
        ("charge", "Resolutions", "1.00"),  # 3 - 2 free at the plan's 1.00, not 0.50
        ("charge", "Platform fee", "10.00"),
        ("minimum", "Minimum spend true-up", "4.00"),  # the plan's minimum is back
    ]


def test_the_margin_report_keeps_the_customer_under_its_plan_marked_overridden(
    engine: Engine, vendor: VendorFixture, acme: str
) -> None:
    override(engine, acme, HALF_PRICE, Effective.IMMEDIATELY, at(10))
    send(engine, vendor.id, [resolved("c12", at(12))], at(13))
    with Session(engine) as session:
        rows = margin_report(session, vendor.id, "2026-10", at(20)).customers
    assert [(r.plan, r.plan_version, r.overridden) for r in rows] == [
        ("support", 1, False),
        ("support", 1, True),
    ]
    assert rows[1].outcomes["resolved"].revenue == Decimal("0.50")


def test_override_mistakes_are_located_errors(
    engine: Engine, vendor: VendorFixture, acme: str
) -> None:
    text = 'charges:\n  Resolutons: {unit_price: "0.50"}\n  Platform fee: {price: "-1"}\n'
    with pytest.raises(RuleFileError) as caught:
        override(engine, acme, text, Effective.NEXT_PERIOD, at(10))
    assert [str(e) for e in caught.value.errors] == [
        "acme.yaml:2:3: the plan has no charge 'Resolutons'; expected a charge's name, or "
        "its outcome when it has none: 'Platform fee', 'Resolutions'",
        "acme.yaml:3:25: must not be negative, got -1",
    ]


def test_the_api_creates_an_override_and_shows_base_override_and_merged(
    app_client: TestClient, vendor: VendorFixture, acme: str
) -> None:
    headers = bearer(vendor.api_key) | {"content-type": "application/yaml"}
    made = app_client.post(f"/v1/customers/{acme}/overrides", content=HALF_PRICE, headers=headers)
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["version"], body["effective"], body["plan"], body["plan_version"]) == (
        1,
        "next_period",
        "support",
        1,
    )
    shown = app_client.get(f"/v1/customers/{acme}/overrides/1", headers=bearer(vendor.api_key))
    assert shown.status_code == 200
    one = shown.json()
    assert one["document"] == HALF_PRICE
    assert one["base"]["charges"][0]["unit_price"] == "1.00"
    assert one["base"]["minimum"] == "15.00"
    assert one["merged"]["charges"][0]["unit_price"] == "0.50"
    assert one["merged"]["minimum"] is None
    assert one["merged"]["charges"][1] == one["base"]["charges"][1]
    listed = app_client.get(f"/v1/customers/{acme}/overrides", headers=bearer(vendor.api_key))
    assert [item["version"] for item in listed.json()["data"]] == [1]
    customer = app_client.get(f"/v1/customers/{acme}", headers=bearer(vendor.api_key)).json()
    assert customer["pending_change"]["overridden"] is True
    assert customer["pending_change"]["version"] == 1
    as_json = app_client.post(
        f"/v1/customers/{acme}/overrides",
        json={"charges": {"Resolutions": {"free_units": 5}}},
        params={"effective": "immediately"},
        headers=bearer(vendor.api_key),
    )
    assert as_json.status_code == 201, as_json.text
    assert as_json.json()["merged"]["charges"][0]["free_units"] == "5"


def test_the_api_answers_an_unknown_charge_with_its_line_and_column(
    app_client: TestClient, vendor: VendorFixture, acme: str
) -> None:
    headers = bearer(vendor.api_key) | {"content-type": "application/yaml"}
    answer = app_client.post(
        f"/v1/customers/{acme}/overrides",
        content="charges:\n  Setup fee: {price: '5'}\n",
        headers=headers,
    )
    assert answer.status_code == 422
    problem = answer.json()
    assert problem["type"].endswith("/invalid-override")
    assert problem["errors"] == [
        {
            "file": "override.yaml",
            "line": 2,
            "column": 3,
            "message": "the plan has no charge 'Setup fee'; expected a charge's name, or its "
            "outcome when it has none: 'Platform fee', 'Resolutions'",
        }
    ]


def test_a_customer_without_a_plan_cannot_get_an_override(
    app_client: TestClient, engine: Engine, vendor: VendorFixture
) -> None:
    bare = create_customer(engine, vendor.id, "bare")
    answer = app_client.post(
        f"/v1/customers/{bare}/overrides",
        content=HALF_PRICE,
        headers=bearer(vendor.api_key) | {"content-type": "application/yaml"},
    )
    assert answer.status_code == 404
    assert answer.json()["type"].endswith("/no-subscription")


def test_a_simulation_keeps_the_customer_under_its_plan_marked_overridden(
    engine: Engine, vendor: VendorFixture, acme: str
) -> None:
    other_plan = create_plan(engine, vendor.id, RULES)  # the same plan: its id
    create_customer(engine, vendor.id, "globex", other_plan, starts_at=OCTOBER)
    override(engine, acme, HALF_PRICE, Effective.IMMEDIATELY, at(10))
    events = [resolved("c12", at(12)), resolved("c13", at(13))]
    send(engine, vendor.id, events, at(14))
    with Session(engine) as session:
        plan = session.get(Plan, other_plan)
        assert plan is not None
        result = simulate(
            session, plan, load_rules(RULES), OCTOBER, at(1, 0, month=11), at(10, month=11)
        )
    by_customer = {c.external_id: c for c in result.customers}
    assert by_customer["globex"].overridden is False
    acme_row = by_customer["acme"]
    assert acme_row.overridden is True
    # Its own prices now: Oct 1-10 at the plan (fee 10 + minimum true-up 5 = 15.00), Oct
    # 10-31 under the override (2 x 0.50 + fee 10 = 11.00); the proposal (the plan itself)
    # prices the second part 2 x 1.00 + 10 + true-up 3.00 = 15.00.
    assert (acme_row.current, acme_row.proposed) == (Decimal("26.00"), Decimal("30.00"))
    assert result.current_versions == [1]


def test_a_new_plan_version_does_not_move_a_customer_with_its_own_prices(
    engine: Engine, vendor: VendorFixture, acme: str
) -> None:
    made = override(engine, acme, HALF_PRICE, Effective.IMMEDIATELY, at(10))
    with Session(engine) as session:
        found = session.get(Vendor, vendor.id)
        assert found is not None
        upload(session, found, RULES.replace("version: 1", "version: 2"), "v2.yaml")
        version = plans.latest_version(session, _plan_of(session, made))
        assert version is not None and version.version == 2
        changes = apply_version(session, found, version, ApplyMode.IMMEDIATELY, at(11))
        session.commit()
    assert changes == []
    with Session(engine) as session:
        (sub,) = [s for s in of_customer(session, acme) if s.ends_at is None]
        assert sub.plan_version_id == made.plan_version_id


def _plan_of(session: Session, made: Any) -> str:
    base = session.get(PlanVersion, made.base_version_id)
    assert base is not None
    return base.plan_id
