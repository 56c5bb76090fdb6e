"""`limit.warning` and `limit.reached`, once per period each (both databases).

2.50 per resolution and 10.00 per lead plus a 5.00 fee, under a 50.00 block maximum
(warning from 60%) and a unit limit of 3 leads (warning from 60% too).
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.engine import Engine

from tests.metering.conftest import VendorFixture, create_customer, create_plan
from tests.metering.notify.alerts.helpers import at, fire, leads, resolutions, rules, send
from tests.metering.notify.webhooks.helpers import add_endpoint, deliveries, payload

BLOCK = '{amount: "50.00", on_reach: block, warn_at: 60}'


def test_warning_then_reached_once_each_per_period(engine: Engine, vendor: VendorFixture) -> None:
    plan = rules("limited", BLOCK).replace(
        "    unique_by: properties.lead_id\n",
        "    unique_by: properties.lead_id\n    limit: {units: 3, on_reach: block, warn_at: 60}\n",
    )
    customer_id = create_customer(engine, vendor.id, "acme", create_plan(engine, vendor.id, plan))
    add_endpoint(engine, vendor.id, "https://a.test/hook", ["limit.warning", "limit.reached"])
    # 2 leads (20.00) + 4 resolutions (10.00) + fee 5.00 = 35.00: 70% of 50.00, 2 of 3 leads.
    send(engine, vendor.id, leads("l", 2, at(3)) + resolutions("r", 4, at(3)), at(3))
    assert fire(engine, at(4)) == [
        ("outcome_units", "2026-10", Decimal("2")),  # 2 of 3 leads: 66.7% >= 60%
        ("plan_maximum", "2026-10", Decimal("35.00")),
    ]
    assert fire(engine, at(5)) == []
    # A third lead (45.00) fits; a fourth would make 55.00: held, so both limits are reached.
    send(engine, vendor.id, leads("m", 2, at(6)), at(6))
    assert fire(engine, at(7)) == [
        ("outcome_units", "2026-10", Decimal("3")),
        ("plan_maximum", "2026-10", Decimal("45.00")),
    ]
    assert fire(engine, at(8)) == []
    sent = [payload(delivery) for delivery in deliveries(engine)]
    assert [(p["type"], p["data"]["limit"]["kind"]) for p in sent] == [
        ("limit.warning", "plan_maximum"),
        ("limit.warning", "outcome_units"),
        ("limit.reached", "plan_maximum"),
        ("limit.reached", "outcome_units"),
    ]
    reached = sent[2]["data"]
    assert reached["limit"] == {
        "kind": "plan_maximum",
        "outcome": None,
        "on_reach": "block",
        "limit": "50.00",
    }
    assert (reached["figure"], reached["threshold"]) == ("45.00", "50.00")
    assert reached["customer"]["id"] == customer_id
    # The next period starts with no firing.
    send(engine, vendor.id, leads("n", 2, at(3, 11)), at(3, 11))
    assert fire(engine, at(4, 11)) == [("outcome_units", "2026-11", Decimal("2"))]
