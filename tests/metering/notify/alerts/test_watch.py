"""Which periods can still change: the current one, and ended ones until their close."""

from __future__ import annotations

from datetime import datetime

from metering.catalog.subscriptions.models import Subscription
from metering.notify.alerts.watch import watched_periods
from pricing_rules.loader import load_rules
from tests.metering.notify.alerts.helpers import at, rules

RULES = load_rules(rules())  # monthly, close_after 72h


def subscription(starts_at: datetime, ends_at: datetime | None = None) -> Subscription:
    return Subscription(
        id="sub_1",
        vendor_id="ven_1",
        customer_id="cus_1",
        plan_id="pln_1",
        plan_version_id="plv_1",
        starts_at=starts_at,
        ends_at=ends_at,
    )


def spans(sub: Subscription, now: datetime) -> list[tuple[str, str]]:
    return [
        (p.start.strftime("%m-%d"), p.end.strftime("%m-%d"))
        for p in watched_periods(sub, RULES, now)
    ]


def test_the_current_period_and_the_ended_one_until_its_close_and_a_day() -> None:
    sub = subscription(at(1, 9, 0))
    assert spans(sub, at(15, 10)) == [("10-01", "11-01")]
    assert spans(sub, at(3, 11)) == [("11-01", "12-01"), ("10-01", "11-01")]
    assert spans(sub, at(4, 11, 23)) == [("11-01", "12-01"), ("10-01", "11-01")]
    assert spans(sub, at(5, 11, 1)) == [("11-01", "12-01")]


def test_periods_are_cut_to_the_subscription() -> None:
    assert spans(subscription(at(10)), at(2, 11)) == [("11-01", "12-01"), ("10-10", "11-01")]
    ended = subscription(at(1, 9, 0), ends_at=at(20, 10, 0))
    assert spans(ended, at(21)) == [("10-01", "10-20")]
    assert spans(ended, at(25)) == []
    assert spans(subscription(at(5, 11)), at(1, 11)) == []
