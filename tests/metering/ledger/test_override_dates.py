"""An override from an instant (`effective_from`): scheduled ahead, or back-dated into a
period not yet invoiced, split there like a plan change; never into an invoiced period."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.catalog.subscriptions.repository import of_customer
from metering.catalog.subscriptions.schemas import Effective
from metering.platform.api.problems import ProblemError
from tests.metering.billing.invoices.helpers import OCTOBER, at, close, invoices, send, summary
from tests.metering.conftest import VendorFixture
from tests.metering.ledger.test_overrides import HALF_PRICE, acme, override, resolved
from tests.metering.platform.api.support import bearer

__all__ = ["acme"]  # the fixture, used by name


def _by_start(engine: Engine) -> list[Any]:
    return sorted(invoices(engine), key=lambda invoice: invoice.period_start)


def _schedule(engine: Engine, customer_id: str) -> list[tuple[datetime, datetime | None, str]]:
    """(start, end, plan version id) of each subscription, in order."""
    with Session(engine) as session:
        subs = sorted(of_customer(session, customer_id), key=lambda sub: sub.starts_at)
    return [(sub.starts_at, sub.ends_at, sub.plan_version_id) for sub in subs]


def test_a_future_instant_in_the_period_splits_it_there_and_late_events_keep_their_side(
    engine: Engine, vendor: VendorFixture, acme: str
) -> None:
    send(engine, vendor.id, [resolved(f"c{d}", at(d)) for d in (2, 5, 8)], at(9))
    row = override(engine, acme, HALF_PRICE, at(15, 0), at(10))
    assert (row.effective, row.effective_from) == ("at", at(15, 0))
    plan, switch = _schedule(engine, acme)
    assert plan[:2] == (OCTOBER, at(15, 0))
    assert switch == (at(15, 0), None, row.plan_version_id)
    # c14 happened before the switch but arrives after it: still at the plan's price.
    late = [resolved("c14", at(14, 23)), resolved("c16", at(16)), resolved("c20", at(20))]
    send(engine, vendor.id, late, at(21))

    close(engine, at(5, month=11))

    before, after = _by_start(engine)
    assert (before.period_start, before.period_end) == (OCTOBER, at(15, 0))
    assert summary(engine, before.id) == [
        ("charge", "Resolutions", "4.00"),  # c2, c5, c8, c14 at 1.00
        ("charge", "Platform fee", "10.00"),
        ("minimum", "Minimum spend true-up", "1.00"),  # up to the plan's 15.00
    ]
    assert (after.period_start, after.period_end) == (at(15, 0), at(1, 0, month=11))
    assert summary(engine, after.id) == [
        ("charge", "Resolutions", "1.00"),  # c16, c20 at 0.50
        ("charge", "Platform fee", "10.00"),  # the override has no minimum
    ]
    assert before.total + after.total == Decimal("26.00")


def test_an_instant_after_the_current_period_leaves_it_whole_and_splits_the_next(
    engine: Engine, vendor: VendorFixture, acme: str
) -> None:
    send(engine, vendor.id, [resolved("c2", at(2))], at(3))
    row = override(engine, acme, HALF_PRICE, at(15, 0, month=11), at(10))
    assert row.effective_from == at(15, 0, month=11)
    november = [resolved(f"n{d}", at(d, month=11)) for d in (3, 20, 25)]
    send(engine, vendor.id, november, at(26, month=11))

    close(engine, at(5, month=11))
    close(engine, at(5, month=12))

    october, first_half, second_half = _by_start(engine)
    assert (october.period_start, october.period_end) == (OCTOBER, at(1, 0, month=11))
    assert october.total == Decimal("15.00")  # 1.00 + 10.00 + true-up 4.00
    assert (first_half.period_start, first_half.period_end) == (
        at(1, 0, month=11),
        at(15, 0, month=11),
    )
    assert summary(engine, first_half.id) == [
        ("charge", "Resolutions", "1.00"),  # n3 at 1.00
        ("charge", "Platform fee", "10.00"),
        ("minimum", "Minimum spend true-up", "4.00"),
    ]
    assert (second_half.period_start, second_half.period_end) == (
        at(15, 0, month=11),
        at(1, 0, month=12),
    )
    assert summary(engine, second_half.id) == [
        ("charge", "Resolutions", "1.00"),  # n20, n25 at 0.50
        ("charge", "Platform fee", "10.00"),
    ]


def test_a_past_instant_in_the_open_period_derives_its_events_again_from_there(
    engine: Engine, vendor: VendorFixture, acme: str
) -> None:
    send(engine, vendor.id, [resolved(f"c{d}", at(d)) for d in (2, 5, 8, 12, 15)], at(16))
    row = override(engine, acme, HALF_PRICE, at(10, 0), at(20))
    assert row.effective_from == at(10, 0)

    close(engine, at(5, month=11))

    before, after = _by_start(engine)
    assert (before.period_end, after.period_start) == (at(10, 0), at(10, 0))
    assert summary(engine, before.id) == [
        ("charge", "Resolutions", "3.00"),  # c2, c5, c8 at 1.00
        ("charge", "Platform fee", "10.00"),
        ("minimum", "Minimum spend true-up", "2.00"),
    ]
    assert summary(engine, after.id) == [
        ("charge", "Resolutions", "1.00"),  # c12, c15 derived again at 0.50
        ("charge", "Platform fee", "10.00"),
    ]


def test_a_past_instant_in_the_last_period_before_it_is_invoiced_reaches_back_there(
    engine: Engine, vendor: VendorFixture, acme: str
) -> None:
    """On November 2 October is not yet closed (close_after 72h): an override from October
    20 splits October and prices November under the override too."""
    events = [resolved("c5", at(5)), resolved("c25", at(25)), resolved("n1", at(1, month=11))]
    send(engine, vendor.id, events, at(1, 13, month=11))
    override(engine, acme, HALF_PRICE, at(20, 0), at(2, month=11))

    close(engine, at(5, month=11))
    close(engine, at(5, month=12))

    first, second, november = _by_start(engine)
    assert (first.period_end, second.period_end) == (at(20, 0), at(1, 0, month=11))
    assert first.total == Decimal("15.00")  # c5 at 1.00 + 10.00 + true-up 4.00
    assert summary(engine, second.id) == [
        ("charge", "Resolutions", "0.50"),  # c25
        ("charge", "Platform fee", "10.00"),
    ]
    assert summary(engine, november.id) == [
        ("charge", "Resolutions", "0.50"),  # n1
        ("charge", "Platform fee", "10.00"),
    ]


def test_an_instant_replaces_a_pending_next_period_override(
    engine: Engine, vendor: VendorFixture, acme: str
) -> None:
    override(
        engine, acme, "charges: {Resolutions: {unit_price: '0.10'}}\n", Effective.NEXT_PERIOD, at(5)
    )
    row = override(engine, acme, HALF_PRICE, at(20, 0), at(10))
    schedule = _schedule(engine, acme)  # the November switch is gone
    assert [sub[:2] for sub in schedule] == [(OCTOBER, at(20, 0)), (at(20, 0), None)]
    assert schedule[1][2] == row.plan_version_id
    send(engine, vendor.id, [resolved("n3", at(3, month=11))], at(4, month=11))
    close(engine, at(5, month=11))
    close(engine, at(5, month=12))
    november = _by_start(engine)[-1]
    assert november.plan_version_id == row.plan_version_id
    assert summary(engine, november.id)[0] == ("charge", "Resolutions", "0.50")


def _post(client: TestClient, vendor: VendorFixture, customer: str, **params: str) -> Any:
    return client.post(
        f"/v1/customers/{customer}/overrides",
        content=HALF_PRICE,
        params=params,
        headers=bearer(vendor.api_key) | {"content-type": "application/yaml"},
    )


def _listed(client: TestClient, vendor: VendorFixture, customer: str) -> list[Any]:
    answer = client.get(f"/v1/customers/{customer}/overrides", headers=bearer(vendor.api_key))
    data: list[Any] = answer.json()["data"]
    return data


def test_the_api_takes_an_instant_with_an_offset_and_answers_it_in_utc(
    app_client: TestClient, vendor: VendorFixture, acme: str
) -> None:
    made = _post(app_client, vendor, acme, effective_from="2099-01-01T00:00:00+02:00")
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["effective"], body["effective_from"]) == ("at", "2098-12-31T22:00:00Z")
    customer = app_client.get(f"/v1/customers/{acme}", headers=bearer(vendor.api_key)).json()
    assert customer["pending_change"]["starts_at"] == "2098-12-31T22:00:00Z"
    assert customer["pending_change"]["overridden"] is True


def test_the_api_refuses_an_instant_in_an_invoiced_period_naming_the_field(
    app_client: TestClient, engine: Engine, vendor: VendorFixture, acme: str
) -> None:
    send(engine, vendor.id, [resolved("c2", at(2))], at(3))
    close(engine, at(5, month=11))  # October is invoiced: billed through November 1
    answer = _post(app_client, vendor, acme, effective_from="2026-10-20T00:00:00Z")
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert problem["type"].endswith("/invalid-request")
    assert problem["errors"] == [
        {
            "field": "query parameter effective_from",
            "message": "2026-10-20T00:00:00+00:00 is in a period already invoiced (through "
            "2026-11-01T00:00:00+00:00); prices of an invoiced period do not change",
        }
    ]
    assert _listed(app_client, vendor, acme) == []  # nothing stored
    (october,) = invoices(engine)
    assert october.total == Decimal("15.00")


def test_the_api_refuses_an_instant_before_the_first_subscription(
    app_client: TestClient, vendor: VendorFixture, acme: str
) -> None:
    answer = _post(app_client, vendor, acme, effective_from="2026-09-30T23:59:59Z")
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"] == "query parameter effective_from"
    assert "before the customer's first subscription" in answer.json()["detail"]
    assert _listed(app_client, vendor, acme) == []


def test_the_api_refuses_a_bad_instant_and_both_ways_at_once_naming_the_field(
    app_client: TestClient, vendor: VendorFixture, acme: str
) -> None:
    for bad in ("next tuesday", "2026-10-20T00:00:00", "2026-13-01T00:00:00Z"):
        answer = _post(app_client, vendor, acme, effective_from=bad)
        assert answer.status_code == 422, (bad, answer.text)
        (error,) = answer.json()["errors"]
        assert error["field"] == "query parameter effective_from", bad
    both = _post(
        app_client, vendor, acme, effective="immediately", effective_from="2099-01-01T00:00:00Z"
    )
    assert both.status_code == 422
    assert both.json()["errors"] == [
        {
            "field": "query parameter effective_from",
            "message": "send either effective (next_period or immediately) or effective_from, "
            "not both",
        }
    ]
    assert _listed(app_client, vendor, acme) == []


def test_an_instant_before_the_subscription_in_force_is_refused(
    engine: Engine, vendor: VendorFixture, acme: str
) -> None:
    """On October 10 the customer moved to its own prices now; an override from October 5
    would reach into the subscription that ended then."""
    override(engine, acme, HALF_PRICE, Effective.IMMEDIATELY, at(10))
    with pytest.raises(ProblemError) as caught:
        override(engine, acme, "minimum: '20.00'\n", at(5, 0), at(12))
    assert caught.value.extra == {
        "errors": [
            {
                "field": "query parameter effective_from",
                "message": "2026-10-05T00:00:00+00:00 is before the start of the customer's "
                "current subscription (2026-10-10T12:00:00+00:00)",
            }
        ]
    }
