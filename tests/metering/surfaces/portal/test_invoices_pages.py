"""The invoices pages: the list, one invoice's lines with tier detail, and who may see them."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from metering.billing.invoices.models import InvoiceStatus
from metering.platform.api.pagination import encode_cursor
from tests.metering.billing.invoices.helpers import (
    OCTOBER,
    RULES,
    at,
    close,
    invoices,
    lines,
    reopen,
    resolution,
    update_invoice,
    update_payment_link,
)
from tests.metering.conftest import VendorFixture, create_customer, create_plan, create_vendor
from tests.metering.ledger.events.helpers import ingest_all
from tests.metering.platform.api.support import bearer
from tests.metering.surfaces.portal.helpers import sign_in

NOVEMBER_5 = datetime(2026, 11, 5, tzinfo=UTC)
DECEMBER_5 = datetime(2026, 12, 5, tzinfo=UTC)


def text_of(page: str) -> str:
    """The page's text as read: tags dropped, entities decoded, spaces collapsed."""
    text = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))
    return re.sub(r"\( | \)", lambda m: m.group(0).strip(), text).replace("\u2009", " ")


@pytest.fixture
def plan_id(engine: Engine, vendor: VendorFixture) -> str:
    return create_plan(engine, vendor.id, RULES)


@pytest.fixture
def acme(engine: Engine, vendor: VendorFixture, plan_id: str) -> str:
    return create_customer(engine, vendor.id, "acme", plan_id, starts_at=OCTOBER)


def october_invoice(engine: Engine, vendor_id: str, customer_id: str) -> str:
    """9 resolutions in October: 2 free, 5 x 0.99 + 2 x 0.79 = 6.53, + 20.00 fee = 26.53."""
    events = [resolution(f"o-{n}", at(10), f"o-{n}") for n in range(9)]
    ingest_all(engine, vendor_id, events, at(11))
    closed = close(engine, NOVEMBER_5).invoices
    return next(invoice.id for invoice in closed if invoice.customer_id == customer_id)


def test_invoice_list(
    app_client: TestClient, engine: Engine, vendor: VendorFixture, acme: str
) -> None:
    sign_in(app_client, vendor.api_key, acme)
    empty = app_client.get("/portal/invoices")
    assert empty.status_code == 200 and "No invoices yet" in empty.text
    invoice_id = october_invoice(engine, vendor.id, acme)
    text = text_of(app_client.get("/portal/invoices").text)
    assert "#1 PDF of invoice #1 Oct 1 \u2013 31, 2026 Issued Nov 5, 2026 $26.53" in text
    page = app_client.get("/portal/invoices").text
    assert f'href="/portal/invoices/{invoice_id}"' in page
    assert f'href="/portal/invoices/{invoice_id}/pdf"' in page


def test_a_failed_payment_says_why_in_the_list(
    app_client: TestClient, engine: Engine, vendor: VendorFixture, acme: str
) -> None:
    invoice_id = october_invoice(engine, vendor.id, acme)
    update_invoice(engine, invoice_id, status=InvoiceStatus.PAYMENT_FAILED.value)
    update_payment_link(
        engine, invoice_id, step="failed", error="card_declined", decline_code="expired_card"
    )
    sign_in(app_client, vendor.api_key, acme)
    answer = app_client.get(f"/v1/invoices/{invoice_id}", headers=bearer(vendor.api_key))
    reason = answer.json()["payment_error"]["message"]
    text = text_of(app_client.get("/portal/invoices").text)
    assert f"Payment failed {reason}" in text


def test_invoice_page_lines_and_tiers(
    app_client: TestClient, engine: Engine, vendor: VendorFixture, acme: str
) -> None:
    invoice_id = october_invoice(engine, vendor.id, acme)
    sign_in(app_client, vendor.api_key, acme)
    page = app_client.get(f"/portal/invoices/{invoice_id}")
    assert page.status_code == 200
    text = text_of(page.text)
    assert "Invoice #1 Issued" in text
    assert "Period Oct 1 \u2013 31, 2026" in text and "Total $26.53" in text
    assert (
        "Resolved conversation 9 resolved conversations, first 2 free; "
        "1\u20135 at $0.99, 6 and up at $0.79" in text
    )
    # The free units are a tier row of their own: 2 + 5 + 2 is the quantity, 9.
    assert (
        "Free 2 $0.00 $0.00 Tier 1: 1\u20135 5 $0.99 $4.95 Tier 2: 6\u20137 2 $0.79 $1.58" in text
    )
    assert "Status Open" in text
    assert "9 outcomes behind this line 9 $6.53" in text
    assert "Platform fee flat fee $20.00 1 $20.00" in text
    line = next(row for row in lines(engine, invoice_id) if row.outcome)
    assert f"/portal/outcomes?invoice={invoice_id}&amp;line={line.id}" in page.text
    assert "data-print" in page.text and "View and pay on Stripe" not in page.text
    api = app_client.get(f"/v1/invoices/{invoice_id}", headers=bearer(vendor.api_key)).json()
    assert api["total"] == "26.53"
    assert [row["amount"] for row in api["lines"]] == ["6.53", "0.00", "20.00"]

    update_payment_link(engine, invoice_id, hosted_url="https://invoice.stripe.test/i/abc")
    page = app_client.get(f"/portal/invoices/{invoice_id}")
    assert 'href="https://invoice.stripe.test/i/abc"' in page.text
    assert "View and pay on Stripe" in page.text


def test_credit_lines_name_the_invoice_they_correct(
    app_client: TestClient, engine: Engine, vendor: VendorFixture, acme: str
) -> None:
    first = october_invoice(engine, vendor.id, acme)
    ingest_all(engine, vendor.id, [reopen("r-1", at(10, 12, month=11), "o-1")], at(10, 13, 11))
    (second,) = close(engine, DECEMBER_5).invoices
    sign_in(app_client, vendor.api_key, acme)
    page = app_client.get(f"/portal/invoices/{second.id}")
    text = text_of(page.text)
    assert "Credit for Oct 1 \u2013 31, 2026 (invoice #1)" in text
    assert f'href="/portal/invoices/{first}"' in page.text
    assert "-$0.79" in text  # the 9th unit was in the 0.79 tier


def test_another_customers_invoice_is_not_found(
    app_client: TestClient, engine: Engine, vendor: VendorFixture, acme: str, plan_id: str
) -> None:
    globex = create_customer(engine, vendor.id, "globex", plan_id, starts_at=OCTOBER)
    other = create_vendor(engine, "Other AI")
    other_plan = create_plan(engine, other.id, RULES)
    initech = create_customer(engine, other.id, "initech", other_plan, starts_at=OCTOBER)
    ingest_all(engine, vendor.id, [resolution("g-1", at(10), "g-1", "globex")], at(11))
    october_invoice(engine, vendor.id, acme)
    by_customer = {invoice.customer_id: invoice for invoice in invoices(engine)}
    sign_in(app_client, vendor.api_key, globex)
    theirs = by_customer[acme].id
    page = app_client.get(f"/portal/invoices/{theirs}")
    assert page.status_code == 404
    assert "There is no such invoice in your account" in page.text
    assert "$26.53" not in page.text
    other_vendors = app_client.get(f"/portal/invoices/{by_customer[initech].id}")
    assert other_vendors.status_code == 404
    assert app_client.get("/portal/invoices/inv_missing").status_code == 404
    mine = by_customer[globex].id
    assert app_client.get(f"/portal/invoices/{mine}").status_code == 200
    assert theirs not in app_client.get("/portal/invoices").text
    update_invoice(engine, mine, status=InvoiceStatus.DRAFT.value)
    assert app_client.get(f"/portal/invoices/{mine}").status_code == 404


def test_invoices_page_by_cursor_newest_first(
    app_client: TestClient, engine: Engine, vendor: VendorFixture, plan_id: str
) -> None:
    customer = create_customer(
        engine, vendor.id, "old", plan_id, starts_at=datetime(2024, 9, 1, tzinfo=UTC)
    )
    assert len(close(engine, NOVEMBER_5).invoices) == 26  # Sep 2024 to Oct 2026
    sign_in(app_client, vendor.api_key, customer)
    first = app_client.get("/portal/invoices").text
    numbers = [int(n) for n in re.findall(r">#(\d+)</a>", first)]
    assert numbers == list(range(26, 6, -1))
    older = re.search(r'href="(/portal/invoices\?cursor=[^"]+)" rel="next"', first)
    assert older is not None
    second = app_client.get(older.group(1).replace("&amp;", "&")).text
    assert [int(n) for n in re.findall(r">#(\d+)</a>", second)] == list(range(6, 0, -1))
    assert 'rel="next"' not in second and "Newest invoices" in second
    for cursor in ("bm9wZQ", encode_cursor("2026-01-01T00:00:00"), encode_cursor(7)):
        bad = app_client.get(f"/portal/invoices?cursor={cursor}")
        assert bad.status_code == 400 and "This page of invoices does not exist" in bad.text
        assert "Log out" in bad.text  # still signed in, with the portal's navigation


def test_invoice_in_the_customers_locale(
    app_client: TestClient, engine: Engine, vendor: VendorFixture, acme: str
) -> None:
    invoice_id = october_invoice(engine, vendor.id, acme)
    app_client.patch(
        f"/v1/customers/{acme}", json={"locale": "fr_FR"}, headers=bearer(vendor.api_key)
    )
    sign_in(app_client, vendor.api_key, acme)
    page = app_client.get(f"/portal/invoices/{invoice_id}")
    text = text_of(page.text)
    assert '<html lang="fr-FR">' in page.text
    assert "26,53 $US" in text and "0,99 $US" in text
    assert "1\u201331 oct. 2026" in text
