"""The rows behind an amount commitment's lines (both DBs, hand-computed): the period's
outcomes in timestamp order, split where the term's spend crosses the committed amount.

The outcome whose price straddles the crossing is on both the committed and the overage
line, as a units commitment's straddling outcome is (`crossing_split`); one whose price
ends exactly at the commitment is under it only.
"""

from __future__ import annotations

from decimal import Decimal

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from metering.billing.invoices.models import InvoiceLine
from tests.metering.billing.commitments.helpers import (
    AMOUNT_RULES,
    YEAR,
    day,
    month_end_close,
    resolved,
)
from tests.metering.billing.commitments.test_commitment_portal import at_now
from tests.metering.billing.commitments.test_zendesk_term import outcome_ids
from tests.metering.billing.invoices.helpers import invoices, lines, send, summary
from tests.metering.conftest import VendorFixture, create_customer, create_plan
from tests.metering.platform.api.support import bearer
from tests.metering.surfaces.portal.helpers import sign_in

__all__ = ["at_now"]  # the portal's clock fixed at April 1
SEVEN = AMOUNT_RULES.replace('"4.00"', '"7.00"')
"""7.00 a resolution: 120.00 is not a whole number of them, so one straddles."""


def send_days(engine: Engine, vendor_id: str, month: int, days: list[int]) -> list[str]:
    """One resolution on each of `days`, all received at once at the end of the month (in
    the order given, which is not the timestamps'); their event ids, by day."""
    events = [resolved(f"m{month}d{number}", day(month, number)) for number in days]
    send(engine, vendor_id, events, day(month, 28, 20))
    return [event["id"] for event in sorted(events, key=lambda e: e["timestamp"])]


def commitment_lines(engine: Engine, invoice_id: str) -> dict[str, InvoiceLine]:
    return {
        line.charge_key: line
        for line in lines(engine, invoice_id)
        if line.charge_key.startswith("commitment:")
    }


def test_the_outcome_whose_price_straddles_the_commitment_is_on_both_lines(
    engine: Engine, vendor: VendorFixture
) -> None:
    plan = create_plan(engine, vendor.id, SEVEN)
    create_customer(engine, vendor.id, "acme", plan, starts_at=YEAR)
    january = send_days(engine, vendor.id, 1, list(range(1, 11)))  # 10 x 7.00 = 70.00
    month_end_close(engine, 1)
    # February: 9 x 7.00 = 63.00 with 50.00 left. Spend after the 7th is 49.00, after the
    # 8th 56.00: the 8th is 1.00 under and 6.00 past; 13.00 past at 1.25x adds 3.25.
    february = send_days(engine, vendor.id, 2, [9, 2, 5, 1, 8, 3, 7, 4, 6])
    month_end_close(engine, 2)
    march = send_days(engine, vendor.id, 3, [3, 4])  # all past: 14.00 adds 3.50
    month_end_close(engine, 3)

    first, second, third = invoices(engine)
    on_january = commitment_lines(engine, first.id)
    assert set(on_january) == {"commitment:committed"}
    assert sorted(on_january["commitment:committed"].outcome_ids) == outcome_ids(engine, *january)

    assert summary(engine, second.id)[1:] == [
        ("commitment", "Commitment drawn (50 of the 120 committed, 0 left)", "0.00"),
        (
            "commitment",
            "Commitment overage (13 spent past the 120 committed, billed at 1.25x the "
            "plan's prices)",
            "3.25",
        ),
    ]
    on_february = commitment_lines(engine, second.id)
    committed = on_february["commitment:committed"].outcome_ids
    overage = on_february["commitment:overage"].outcome_ids
    assert sorted(committed) == outcome_ids(engine, *february[:8])
    assert sorted(overage) == outcome_ids(engine, *february[7:])  # the 8th (Feb 8) on both
    assert second.total == Decimal("66.25")

    on_march = commitment_lines(engine, third.id)
    assert on_march["commitment:committed"].outcome_ids == []
    assert sorted(on_march["commitment:overage"].outcome_ids) == outcome_ids(engine, *march)
    assert third.total == Decimal("17.50")


def test_the_outcome_that_reaches_the_commitment_exactly_is_under_it_only(
    engine: Engine, vendor: VendorFixture, app_client: TestClient, at_now: None
) -> None:
    plan = create_plan(engine, vendor.id, AMOUNT_RULES)
    customer = create_customer(engine, vendor.id, "acme", plan, starts_at=YEAR)
    send_days(engine, vendor.id, 1, list(range(1, 11)))  # 10 x 4.00 = 40.00, 80.00 left
    month_end_close(engine, 1)
    # February: 22 x 4.00; the 20th (Feb 20) brings the term to 120.00 exactly, the 21st
    # and 22nd are past it: 8.00 at 1.25x adds 2.00.
    february = send_days(engine, vendor.id, 2, list(range(22, 0, -1)))
    month_end_close(engine, 2)

    invoice = invoices(engine)[1]
    found = commitment_lines(engine, invoice.id)
    assert sorted(found["commitment:committed"].outcome_ids) == outcome_ids(engine, *february[:20])
    overage = found["commitment:overage"]
    assert (overage.amount, overage.quantity) == (2, 8)
    assert sorted(overage.outcome_ids) == outcome_ids(engine, "m2d21", "m2d22")

    # The API lists them behind the line, and the portal's line links to them.
    url = f"/v1/invoices/{invoice.id}/lines/{overage.id}/outcomes"
    page = app_client.get(url, headers=bearer(vendor.api_key)).json()
    assert [row["event_id"] for row in page["data"]] == ["m2d21", "m2d22"]
    listed = app_client.get(f"/v1/invoices/{invoice.id}", headers=bearer(vendor.api_key)).json()
    counts = {line["charge_key"]: line["outcome_count"] for line in listed["lines"]}
    assert counts == {
        "charge:0:Resolutions": 22,
        "commitment:committed": 20,
        "commitment:overage": 2,
    }
    sign_in(app_client, vendor.api_key, customer)
    portal = app_client.get(f"/portal/invoices/{invoice.id}").text
    assert f"/portal/outcomes?invoice={invoice.id}&amp;line={overage.id}" in portal
    assert "2 outcomes behind this line" in portal
    shown = app_client.get(f"/portal/outcomes?invoice={invoice.id}&line={overage.id}").text
    assert "m2d21" in shown and "m2d22" in shown and "m2d20" not in shown
