"""The invoices API: list, detail with lines, outcomes behind a line, void, upcoming invoice."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from metering.billing.invoices.models import InvoiceLine
from metering.billing.invoices.service import upcoming
from metering.catalog.customers.models import Customer
from metering.ledger.outcomes.models import StalePeriod
from metering.platform.api.pagination import encode_cursor
from metering.platform.db.types import utcnow
from tests.metering.billing.invoices.helpers import (
    NOVEMBER,
    OCTOBER,
    RULES,
    at,
    close,
    deal,
    invoices,
    iso,
    reopen,
    resolution,
    send,
    update_invoice,
    update_payment_link,
)
from tests.metering.conftest import VendorFixture, create_customer, create_plan, create_vendor
from tests.metering.platform.api.support import bearer


def auth(vendor: VendorFixture) -> dict[str, str]:
    return bearer(vendor.api_key)


def two_invoices(engine: Engine, vendor: VendorFixture) -> tuple[str, str, str]:
    """October (8 conversations, a deal) and November (a credit for October): their ids."""
    plan = create_plan(engine, vendor.id, RULES)
    customer = create_customer(engine, vendor.id, "acme", plan, starts_at=OCTOBER)
    events = [resolution(f"r{i}", at(i + 1), f"c{i}") for i in range(8)]
    send(engine, vendor.id, [*events, deal("d1", at(3), "1000.50")], at(25))
    close(engine, at(5, month=11))
    send(engine, vendor.id, [reopen("o1", at(30), "c3")], at(10, month=11))
    close(engine, at(5, month=12))
    october, november = invoices(engine)
    return customer, october.id, november.id


def test_list_filters_and_pages(
    app_client: TestClient, engine: Engine, vendor: VendorFixture
) -> None:
    customer, october, november = two_invoices(engine, vendor)

    first = app_client.get("/v1/invoices?limit=1", headers=auth(vendor))
    second = app_client.get(
        f"/v1/invoices?limit=1&cursor={first.json()['next_cursor']}", headers=auth(vendor)
    )
    mine = app_client.get(f"/v1/invoices?customer={customer}", headers=auth(vendor))
    void = app_client.get("/v1/invoices?status=void", headers=auth(vendor))

    assert first.status_code == 200
    assert [i["id"] for i in first.json()["data"]] == [october]
    assert [i["id"] for i in second.json()["data"]] == [november]
    assert second.json()["next_cursor"] is None
    assert [i["number"] for i in mine.json()["data"]] == [1, 2]
    assert void.json() == {"data": [], "next_cursor": None}
    listed = first.json()["data"][0]
    assert listed["total"] == "40.75"
    assert listed["status"] == "issued"
    assert listed["sync_state"] == "not_started"
    assert listed["period_start"] == "2026-10-01T00:00:00Z"


def test_detail_shows_lines_with_tiers_and_corrections(
    app_client: TestClient, engine: Engine, vendor: VendorFixture
) -> None:
    _, october, november = two_invoices(engine, vendor)

    response = app_client.get(f"/v1/invoices/{november}", headers=auth(vendor))

    assert response.status_code == 200
    body = response.json()
    assert body["total"] == "24.21"
    assert [(line["kind"], line["amount"], line["quantity"]) for line in body["lines"]] == [
        ("charge", "0.00", "0"),
        ("charge", "0.00", "0"),
        ("charge", "20.00", "1"),
        ("minimum", "5.00", "1"),
        ("credit", "-0.79", "-1"),
    ]
    credit = body["lines"][-1]
    assert credit["corrects_invoice_id"] == october
    assert credit["period_start"] == "2026-10-01T00:00:00Z"
    assert credit["description"] == "Correction of invoice #1: resolved_conversation (graduated)"
    assert credit["outcome_count"] == 1
    first = app_client.get(f"/v1/invoices/{october}", headers=auth(vendor)).json()["lines"][0]
    assert first["detail"]["text"] == "8 units, 2 free, graduated"
    assert [(t["units"], t["unit_price"], t["amount"]) for t in first["detail"]["tiers"]] == [
        ("5", "0.99", "4.95"),
        ("1", "0.79", "0.79"),
    ]


def test_outcomes_behind_a_line_page_by_row(
    app_client: TestClient, engine: Engine, vendor: VendorFixture
) -> None:
    _, october, _ = two_invoices(engine, vendor)
    line = app_client.get(f"/v1/invoices/{october}", headers=auth(vendor)).json()["lines"][0]
    url = f"/v1/invoices/{october}/lines/{line['id']}/outcomes"

    pages: list[dict[str, Any]] = []
    cursor = ""
    while True:
        page = app_client.get(f"{url}?limit=3{cursor}", headers=auth(vendor)).json()
        pages.append(page)
        if page["next_cursor"] is None:
            break
        cursor = f"&cursor={page['next_cursor']}"

    rows = [row for page in pages for row in page["data"]]
    assert [len(page["data"]) for page in pages] == [3, 3, 2]
    assert sorted(row["event_id"] for row in rows) == [f"r{i}" for i in range(8)]
    by_event = {row["event_id"]: row for row in rows}
    assert by_event["r3"]["state"] == "reversed"  # billed in October, credited in November
    assert by_event["r0"]["state"] == "counted"
    assert by_event["r0"]["dedupe_key"] == "c0"
    foreign = app_client.get(f"{url}?cursor={encode_cursor('inv_x')}", headers=auth(vendor))
    assert foreign.status_code == 400
    assert foreign.json()["title"] == "Invalid Cursor"
    missing = app_client.get(f"/v1/invoices/{october}/lines/il_nope/outcomes", headers=auth(vendor))
    assert missing.status_code == 404
    assert missing.json()["detail"] == "No line 'il_nope'."


def test_another_vendors_invoice_is_not_found(
    app_client: TestClient, engine: Engine, vendor: VendorFixture
) -> None:
    _, october, _ = two_invoices(engine, vendor)
    other = create_vendor(engine, "Other AI")

    response = app_client.get(f"/v1/invoices/{october}", headers=auth(other))
    listed = app_client.get("/v1/invoices", headers=auth(other))

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == f"No invoice '{october}'."
    assert listed.json()["data"] == []


def test_void_and_the_paid_conflict(
    app_client: TestClient, engine: Engine, vendor: VendorFixture
) -> None:
    _, october, november = two_invoices(engine, vendor)
    update_invoice(engine, october, status="paid")

    voided = app_client.post(f"/v1/invoices/{november}/void", headers=auth(vendor))
    again = app_client.post(f"/v1/invoices/{november}/void", headers=auth(vendor))
    conflict = app_client.post(f"/v1/invoices/{october}/void", headers=auth(vendor))

    assert voided.status_code == 200
    assert voided.json()["status"] == "void"
    assert voided.json()["voided_at"] is not None
    assert voided.json()["next_sync_at"] == voided.json()["voided_at"]
    assert again.json()["voided_at"] == voided.json()["voided_at"]
    assert conflict.status_code == 409
    assert conflict.json()["title"] == "Invoice Paid"
    assert conflict.json()["detail"] == (
        f"Invoice '{october}' is paid and cannot be voided; refund the payment in Stripe instead."
    )


def test_a_voided_correction_is_billed_again_at_the_next_close(
    app_client: TestClient, engine: Engine, vendor: VendorFixture
) -> None:
    _, october, november = two_invoices(engine, vendor)
    app_client.post(f"/v1/invoices/{november}/void", headers=auth(vendor))
    with Session(engine) as session:
        assert [m.period_start for m in session.exec(select(StalePeriod)).all()] == [OCTOBER]

    close(engine, at(5, month=1).replace(year=2027))

    december = invoices(engine)[2]
    with Session(engine) as session:
        credit = session.exec(
            select(InvoiceLine).where(
                InvoiceLine.invoice_id == december.id, InvoiceLine.kind == "credit"
            )
        ).one()
    assert (credit.corrects_invoice_id, str(credit.amount.normalize())) == (october, "-0.79")


def test_upcoming_invoice_prices_the_current_period_with_pending_apart(
    app_client: TestClient, engine: Engine, vendor: VendorFixture
) -> None:
    plan = create_plan(engine, vendor.id, RULES)
    customer = create_customer(engine, vendor.id, "acme", plan)
    now = utcnow().replace(microsecond=0)
    recent = now - timedelta(seconds=30)
    send(
        engine,
        vendor.id,
        [resolution("r1", recent, "c1"), deal("d1", recent, "200")],  # the deal settles at once
        now,
    )

    response = app_client.get(f"/v1/customers/{customer}/upcoming_invoice", headers=auth(vendor))

    assert response.status_code == 200, response.text
    body = response.json()
    assert [(line["description"], line["amount"]) for line in body["lines"]] == [
        ("resolved_conversation (graduated)", "0.00"),
        ("pipeline_value (percentage)", "3.00"),
        ("Platform fee", "20.00"),
        ("Minimum spend true-up", "2.00"),
    ]
    assert body["pending"] == [
        {
            "outcome": "resolved_conversation",
            "count": 1,
            "next_settles_at": iso(recent + timedelta(hours=24)),
        }
    ]
    assert body["total"] == "25.00"
    assert body["corrections"] == []
    assert invoices(engine) == []


def test_upcoming_invoice_shows_the_corrections_the_next_close_adds(
    engine: Engine, vendor: VendorFixture
) -> None:
    plan = create_plan(engine, vendor.id, RULES)
    customer_id = create_customer(engine, vendor.id, "acme", plan, starts_at=OCTOBER)
    events = [resolution(f"r{i}", at(i + 1), f"c{i}") for i in range(8)]
    send(engine, vendor.id, events, at(25))
    close(engine, at(5, month=11))
    send(engine, vendor.id, [reopen("o1", at(30), "c3")], at(10, month=11))

    with Session(engine) as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None
        shown = upcoming(session, customer, at(20, month=11))

    assert (shown.period_start, shown.closes_at) == (NOVEMBER, at(4, 0, month=12))
    # October drops to 24.95 and its minimum true-up (25.00) comes back.
    assert [(c.description, c.amount, c.period_start) for c in shown.corrections] == [
        ("Correction of invoice #1: resolved_conversation (graduated)", "-0.79", OCTOBER),
        ("Correction of invoice #1: Minimum spend true-up", "0.05", OCTOBER),
    ]
    assert shown.total == "24.26"
    assert len(invoices(engine)) == 1


def test_upcoming_invoice_needs_a_plan_in_force(
    app_client: TestClient, engine: Engine, vendor: VendorFixture
) -> None:
    customer = create_customer(engine, vendor.id, "acme")
    other = create_vendor(engine, "Other AI")

    response = app_client.get(f"/v1/customers/{customer}/upcoming_invoice", headers=auth(vendor))
    foreign = app_client.get(f"/v1/customers/{customer}/upcoming_invoice", headers=auth(other))

    assert response.status_code == 404
    assert response.json()["title"] == "No Subscription"
    assert foreign.status_code == 404
    assert foreign.json()["detail"] == f"No customer '{customer}'."


def test_retry_sync_makes_the_sync_due_or_says_why_not(
    app_client: TestClient, engine: Engine, vendor: VendorFixture
) -> None:
    _, october, november = two_invoices(engine, vendor)
    update_payment_link(engine, october, error="card_declined", next_attempt_at=None)
    update_invoice(engine, november, status="paid")
    update_payment_link(engine, november, step="paid")

    retried = app_client.post(f"/v1/invoices/{october}/retry_sync", headers=auth(vendor))
    refused = app_client.post(f"/v1/invoices/{november}/retry_sync", headers=auth(vendor))

    assert retried.status_code == 200
    assert retried.json()["sync_error"] is None
    assert retried.json()["next_sync_at"] is not None
    assert refused.status_code == 409
    assert refused.json()["title"] == "Nothing To Retry"
