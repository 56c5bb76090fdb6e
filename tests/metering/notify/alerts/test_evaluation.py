"""Every alert kind fires once per customer and period when crossed, also through a late
event; the plan maximum notifies once (notify bills everything, stop_billing caps)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy.engine import Engine

from tests.metering.billing.invoices.helpers import close, summary
from tests.metering.conftest import VendorFixture, create_customer, create_plan
from tests.metering.notify.alerts.helpers import (
    NOTIFY,
    STOP,
    add_alert,
    at,
    fire,
    firings,
    leads,
    resolutions,
    rules,
    send,
)
from tests.metering.notify.webhooks.helpers import add_endpoint, deliveries, payload

OCTOBER = datetime(2026, 10, 1, tzinfo=UTC)


def subscribe(engine: Engine, vendor: VendorFixture, maximum: str = STOP) -> tuple[str, str]:
    """A plan with a 50.00 maximum (stop_billing unless told) and acme on it: (plan, acme)."""
    plan = create_plan(engine, vendor.id, rules(maximum=maximum))
    return plan, create_customer(engine, vendor.id, "acme", plan, OCTOBER)


def test_spend_fires_once_per_period_and_again_the_next(
    engine: Engine, vendor: VendorFixture
) -> None:
    _, acme = subscribe(engine, vendor)
    add_endpoint(engine, vendor.id, "https://a.test/hook", ["alert.triggered"])
    rule = add_alert(engine, vendor.id, kind="spend", threshold="20.00", customer=acme)

    send(engine, vendor.id, resolutions("a", 5, at(3)), at(3))  # 5 + 12.50 = 17.50
    assert fire(engine, at(4)) == []
    send(engine, vendor.id, resolutions("b", 1, at(5)), at(5))  # 20.00: reached
    assert fire(engine, at(6)) == [("spend", "2026-10", Decimal("20.00"))]
    send(engine, vendor.id, resolutions("c", 4, at(7)), at(7))
    assert fire(engine, at(8)) == []
    assert fire(engine, at(8)) == []

    send(engine, vendor.id, resolutions("d", 6, at(2, 11)), at(2, 11))  # November: 20.00
    assert fire(engine, at(3, 11)) == [("spend", "2026-11", Decimal("20.00"))]

    sent = [payload(d) for d in deliveries(engine)]
    assert [body["type"] for body in sent] == ["alert.triggered"] * 2
    first = sent[0]["data"]
    assert first["alert"]["id"] == rule and first["alert"]["kind"] == "spend"
    assert first["customer"] == {"id": acme, "external_id": "acme"}
    assert first["period"] == {"start": "2026-10-01T00:00:00Z", "end": "2026-11-01T00:00:00Z"}
    assert (first["figure"], first["threshold"], first["currency"]) == ("20.00", "20.00", "usd")
    assert [f.period_start.month for f in firings(engine)] == [10, 11]


def test_outcome_count_of_one_outcome_and_of_all(engine: Engine, vendor: VendorFixture) -> None:
    plan, _ = subscribe(engine, vendor)
    add_alert(
        engine, vendor.id, kind="outcome_count", threshold="3", plan=plan, outcome="qualified_lead"
    )
    add_alert(engine, vendor.id, kind="outcome_count", threshold="4", plan=plan)

    send(engine, vendor.id, resolutions("a", 2, at(3)) + leads("l", 1, at(3)), at(3))
    assert fire(engine, at(4)) == []
    send(engine, vendor.id, leads("m", 1, at(5)), at(5))  # 4 outcomes, 2 of them leads
    assert fire(engine, at(6)) == [("outcome_count", "2026-10", Decimal(4))]
    send(engine, vendor.id, leads("n", 1, at(7)), at(7))  # the third lead
    assert fire(engine, at(8)) == [("outcome_count", "2026-10", Decimal(3))]
    send(engine, vendor.id, resolutions("o", 2, at(9)), at(9))  # 45.00: under the maximum
    assert fire(engine, at(10)) == []


def test_maximum_percent_on_the_charges(engine: Engine, vendor: VendorFixture) -> None:
    plan, _ = subscribe(engine, vendor)
    add_alert(engine, vendor.id, kind="maximum_percent", threshold="90", plan=plan)
    send(engine, vendor.id, leads("l", 3, at(3)) + resolutions("r", 3, at(3)), at(3))  # 42.50: 85 %
    assert fire(engine, at(4)) == []
    send(engine, vendor.id, resolutions("s", 1, at(5)), at(5))  # 45.00 = 90 % of 50.00
    assert fire(engine, at(6)) == [("maximum_percent", "2026-10", Decimal("90.00"))]
    assert fire(engine, at(7)) == []


def test_a_late_event_crosses_an_ended_period_before_its_close(
    engine: Engine, vendor: VendorFixture
) -> None:
    _, acme = subscribe(engine, vendor)
    add_alert(engine, vendor.id, kind="spend", threshold="20.00", customer=acme)
    send(engine, vendor.id, resolutions("a", 5, at(31)), at(31))  # 17.50
    assert fire(engine, at(1, 11, 6)) == []
    late = resolutions("late", 1, at(31, 10, 23))  # October's, received on November 2
    send(engine, vendor.id, late, at(2, 11))
    assert fire(engine, at(2, 11, 1)) == [("spend", "2026-10", Decimal("20.00"))]
    assert fire(engine, at(3, 11)) == []


def test_maximum_notify_bills_everything_and_notifies_once(
    engine: Engine, vendor: VendorFixture
) -> None:
    _, acme = subscribe(engine, vendor, NOTIFY)
    add_endpoint(engine, vendor.id, "https://a.test/hook", ["alert.triggered"])
    send(engine, vendor.id, resolutions("r", 30, at(3)), at(3))  # 75.00 + 5.00 = 80.00
    assert fire(engine, at(4)) == [("maximum_reached", "2026-10", Decimal("80.00"))]
    send(engine, vendor.id, resolutions("s", 4, at(5)), at(5))
    assert fire(engine, at(6)) == []

    invoice = close(engine, at(5, 11)).invoices[0]
    assert invoice.total == Decimal("90.00")
    assert summary(engine, invoice.id) == [
        ("charge", "resolved_conversation (per_unit)", "85.00"),
        ("charge", "qualified_lead (per_unit)", "0.00"),
        ("charge", "Platform fee", "5.00"),
    ]
    data = payload(deliveries(engine)[0])["data"]
    assert data["alert"] == {
        "id": None,
        "kind": "maximum_reached",
        "name": None,
        "on_reach": "notify",
    }
    assert (data["figure"], data["threshold"]) == ("80.00", "50.00")
    assert data["customer"]["id"] == acme


def test_maximum_stop_billing_caps_the_invoice_and_notifies_once(
    engine: Engine, vendor: VendorFixture
) -> None:
    subscribe(engine, vendor, STOP)
    send(engine, vendor.id, resolutions("r", 34, at(3)), at(3))  # 85.00 + 5.00 = 90.00
    assert fire(engine, at(4)) == [("maximum_reached", "2026-10", Decimal("90.00"))]
    assert fire(engine, at(5)) == []

    invoice = close(engine, at(5, 11)).invoices[0]
    assert invoice.total == Decimal("50.00")
    assert summary(engine, invoice.id)[-1] == ("maximum", "Period cap", "-40.00")
