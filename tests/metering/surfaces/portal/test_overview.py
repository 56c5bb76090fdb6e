"""The overview page: the current period so far, to the cent of the upcoming invoice."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.billing.invoices import service as invoices
from metering.catalog.customers.models import Customer
from metering.platform.api.clock import request_now
from metering.platform.db.types import utcnow
from metering.platform.web.format import datetime as format_datetime
from metering.platform.web.format import money
from metering.surfaces.portal import overview
from tests.metering.billing.invoices.helpers import (
    OCTOBER,
    RULES,
    at,
    close,
    deal,
    reopen,
    resolution,
)
from tests.metering.conftest import VendorFixture, create_customer, create_plan
from tests.metering.ledger.events.helpers import ingest_all
from tests.metering.platform.api.support import bearer
from tests.metering.surfaces.portal.helpers import sign_in

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def nov(day: int, hour: int = 10) -> datetime:
    return at(day, hour, month=11)


def october_and_november(engine: Engine, vendor_id: str) -> None:
    """October: 3 resolutions (invoiced 25.00 with the minimum). November by NOW: 6 settled
    resolutions, a duplicate, a reversed one, a 1000.00 deal, and 2 still pending."""
    ingest_all(
        engine, vendor_id, [resolution(f"o-{n}", at(10), f"o-{n}") for n in range(3)], at(11)
    )
    close(engine, nov(5))
    events = [
        *(resolution(f"e-{n}", nov(3), f"c-{n}") for n in (1, 2, 3)),
        *(resolution(f"e-{n}", nov(10), f"c-{n}") for n in (4, 5, 6, 7)),
        resolution("e-4-again", nov(10, 11), "c-4"),
        reopen("r-5", nov(11), "c-5"),
        deal("d-1", nov(12), "1000.00"),
        resolution("e-8", nov(20, 9), "c-8"),
        resolution("e-9", nov(20, 10), "c-9"),
    ]
    ingest_all(engine, vendor_id, events, NOW)


@pytest.fixture
def acme(engine: Engine, vendor: VendorFixture) -> str:
    plan_id = create_plan(engine, vendor.id, RULES)
    return create_customer(engine, vendor.id, "acme", plan_id, starts_at=OCTOBER)


@pytest.fixture
def at_now(app: Any) -> Iterator[None]:
    app.dependency_overrides[request_now] = lambda: NOW
    yield
    app.dependency_overrides.pop(request_now, None)


def text_of(html: str) -> str:
    """The page's text as a reader sees it (tags dropped, spaces collapsed)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def upcoming_total(engine: Engine, customer_id: str, now: datetime) -> str:
    with Session(engine) as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None
        return invoices.upcoming(session, customer, now).total


def test_overview_shows_the_period_so_far(
    app_client: TestClient, engine: Engine, vendor: VendorFixture, acme: str, at_now: None
) -> None:
    october_and_november(engine, vendor.id)
    sign_in(app_client, vendor.api_key, acme)
    page = app_client.get("/portal")
    assert page.status_code == 200
    text = text_of(page.text)
    assert upcoming_total(engine, acme, NOW) == "38.96"  # 4 paid x 0.99 + 15.00 + 20.00
    assert 'id="projected-total" data-amount="38.96">$38.96<' in page.text
    assert "Current period: Nov 1 \u2013 30, 2026" in text.replace("\u2009", " ")
    # By outcome: 6 settled resolutions (2 free) and the deal; pending and reversed apart.
    assert re.search(r"Resolved conversation 6 6 2 1 \$3\.96", text)
    assert re.search(r"Pipeline value 1 1,000 0 0 \$15\.00", text)
    assert "Platform fee 1 flat fee $20.00" in text
    assert "Total so far $38.96" in text
    # Pending: two, the first settles 24 hours after 09:00 on Nov 20.
    settles = text_of(format_datetime(nov(21, 9), "UTC", "en_US"))
    assert f"Resolved conversation 2 $1.78 {settles}" in text  # the 5th paid at 0.99, 6th 0.79
    assert "/portal/outcomes?outcome=resolved_conversation&amp;status=pending" in page.text
    assert "/portal/outcomes?outcome=resolved_conversation&amp;status=reversed" in page.text
    # Previous period: October's invoice, and the difference.
    assert "invoice #1, issued" in text
    assert "$25.00" in text
    assert "first 20 days (to Oct 20, 2026, 12:00 PM UTC) came to $25.00" in text
    assert "This period's first 20 days came to $13.96 more." in text


def test_overview_chart_counts_outcomes_per_local_day(
    app_client: TestClient, engine: Engine, vendor: VendorFixture, acme: str, at_now: None
) -> None:
    october_and_november(engine, vendor.id)
    sign_in(app_client, vendor.api_key, acme)
    page = app_client.get("/portal")
    assert '<svg viewBox="0 0 960 280" role="img"' in page.text
    rows = dict(
        re.findall(r'<th scope="row"[^>]*>(\w+ \d+)</th><td class="num"[^>]*>(\d+)</td>', page.text)
    )
    assert len(rows) == 20  # Nov 1 to Nov 20
    assert (rows["Nov 3"], rows["Nov 10"], rows["Nov 12"], rows["Nov 20"]) == ("3", "3", "1", "2")
    assert sum(int(n) for n in rows.values()) == 9
    assert "20 bars, total 9, highest 3" in page.text


def test_days_are_cut_in_the_plan_timezone(engine: Engine, vendor: VendorFixture) -> None:
    new_york = RULES.replace("timezone: UTC", "timezone: America/New_York")
    customer_id = create_customer(
        engine, vendor.id, "acme", create_plan(engine, vendor.id, new_york)
    )
    events = [resolution("a", nov(3, 2), "c-a"), resolution("b", nov(3, 5), "c-b")]
    ingest_all(engine, vendor.id, events, NOW)
    with Session(engine) as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None
        shown = overview.build(session, customer, NOW)
    counts = {d.day.isoformat(): d.count for d in shown.per_day if d.count}
    assert counts == {"2026-11-02": 1, "2026-11-03": 1}  # 02:00 UTC is 21:00 on Nov 2 there
    assert shown.per_day[0].day.isoformat() == "2026-11-01"


def test_previous_period_not_yet_invoiced_is_rated_as_the_close_will(
    app_client: TestClient, app: Any, engine: Engine, vendor: VendorFixture, acme: str
) -> None:
    ingest_all(
        engine, vendor.id, [resolution(f"o-{n}", at(10), f"o-{n}") for n in range(3)], at(11)
    )
    app.dependency_overrides[request_now] = lambda: nov(2, 12)
    sign_in(app_client, vendor.api_key, acme)
    text = text_of(app_client.get("/portal").text)
    app.dependency_overrides.clear()
    previous = "Oct 1 \u2013 31, 2026: $25.00 (not invoiced yet; priced as of now)"
    assert previous in text.replace("\u2009", " ")
    report = close(engine, nov(5))
    assert [i.total for i in report.invoices] == [Decimal("25.00")]


def test_overview_in_the_customers_locale(
    app_client: TestClient, engine: Engine, vendor: VendorFixture, acme: str, at_now: None
) -> None:
    october_and_november(engine, vendor.id)
    changed = app_client.patch(
        f"/v1/customers/{acme}", json={"locale": "de_DE"}, headers=bearer(vendor.api_key)
    )
    assert changed.status_code == 200 and changed.json()["locale"] == "de_DE"
    sign_in(app_client, vendor.api_key, acme)
    page = app_client.get("/portal")
    assert '<html lang="de-DE">' in page.text
    assert 'id="projected-total" data-amount="38.96">38,96\xa0$<' in page.text
    assert "1.000" in text_of(page.text)  # the deal's 1000 units


def test_overview_equals_the_upcoming_invoice_api_to_the_cent(
    app_client: TestClient, engine: Engine, vendor: VendorFixture, acme: str
) -> None:
    """No fixed clock: the page and GET /v1/customers/{id}/upcoming_invoice at the same now."""
    now = utcnow()
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)

    def ago(delta: timedelta) -> datetime:
        return max(now - delta, start + timedelta(seconds=1))

    events = [
        *(resolution(f"s-{n}", ago(timedelta(hours=30 + n)), f"c-{n}") for n in range(9)),
        resolution("p-1", ago(timedelta(hours=2)), "c-p"),
        deal("d-1", ago(timedelta(hours=40)), "123.45"),
        deal("d-2", ago(timedelta(hours=41)), "9999.99"),
    ]
    ingest_all(engine, vendor.id, events, now)
    sign_in(app_client, vendor.api_key, acme)
    page = app_client.get("/portal")
    api = app_client.get(f"/v1/customers/{acme}/upcoming_invoice", headers=bearer(vendor.api_key))
    assert api.status_code == 200
    upcoming = api.json()
    total = upcoming["total"]
    assert f'id="projected-total" data-amount="{total}">{money(total, "usd")}<' in page.text
    for line in upcoming["lines"]:
        assert money(line["amount"], "usd") in page.text
    assert Decimal(upcoming["total"]) >= Decimal("25.00")


def test_customer_without_a_plan_sees_a_plain_overview(
    app_client: TestClient, engine: Engine, vendor: VendorFixture
) -> None:
    customer_id = create_customer(engine, vendor.id, "planless")
    sign_in(app_client, vendor.api_key, customer_id)
    page = app_client.get("/portal")
    assert page.status_code == 200
    assert "no plan in force right now" in page.text
