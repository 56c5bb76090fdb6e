"""The invoice as a PDF: rendered on the server, read back with pypdf, amounts to the cent."""

from __future__ import annotations

from decimal import Decimal

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.catalog.customers.models import Customer
from tests.metering.billing.invoices.helpers import update_invoice, update_payment_link
from tests.metering.conftest import VendorFixture, create_customer
from tests.metering.surfaces.portal.helpers import pdf_text, sign_in
from tests.metering.surfaces.portal.test_invoices_pages import (  # noqa: F401 (fixtures)
    acme,
    october_invoice,
    plan_id,
)


def set_billing_details(engine: Engine, customer_id: str) -> None:
    with Session(engine) as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None
        customer.name = "Acme Robotics GmbH"
        customer.address = {
            "line1": "Unter den Linden 1",
            "postal_code": "10117",
            "city": "Berlin",
            "country": "DE",
        }
        customer.tax_ids = [{"type": "eu_vat", "value": "DE123456789"}]
        session.add(customer)
        session.commit()


def test_the_pdf_is_the_invoice_as_printed_with_tax_and_totals(
    app_client: TestClient,
    engine: Engine,
    vendor: VendorFixture,
    acme: str,  # noqa: F811
) -> None:
    set_billing_details(engine, acme)
    invoice_id = october_invoice(engine, vendor.id, acme)
    update_payment_link(
        engine,
        invoice_id,
        tax=Decimal("5.04"),
        tax_lines=[{"description": "VAT (DE)", "rate": "19", "amount": "5.04"}],
    )
    sign_in(app_client, vendor.api_key, acme)
    page = app_client.get(f"/portal/invoices/{invoice_id}")
    assert f'href="/portal/invoices/{invoice_id}/pdf"' in page.text

    answer = app_client.get(f"/portal/invoices/{invoice_id}/pdf")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/pdf"
    assert 'filename="invoice-1.pdf"' in answer.headers["content-disposition"]
    assert answer.content.startswith(b"%PDF-")
    text = pdf_text(answer.content)
    assert "Acme AI" in text  # the vendor
    assert "Invoice #1" in text
    for part in ("Acme Robotics GmbH", "Unter den Linden 1", "10117 Berlin", "DE"):
        assert part in text
    assert "EU VAT DE123456789" in text
    assert "Oct 1 - 31, 2026" in text or "Oct 1 \u2013 31, 2026" in text
    assert "Issued Nov 5, 2026" in text
    assert "Resolved conversation 9 $6.53" in text
    assert "first 2 free" in text
    assert "Platform fee 1 $20.00" in text
    assert "Subtotal $26.53" in text
    assert "VAT (DE) (19%) $5.04" in text
    assert "Total $31.57" in text  # 26.53 + 5.04
    assert "Amount due $31.57" in text
    assert "Status Open" in text


def test_a_failed_payment_says_why_in_the_pdf_and_on_the_page(
    app_client: TestClient,
    engine: Engine,
    vendor: VendorFixture,
    acme: str,  # noqa: F811
) -> None:
    invoice_id = october_invoice(engine, vendor.id, acme)
    update_invoice(engine, invoice_id, status="payment_failed")
    update_payment_link(
        engine, invoice_id, decline_code="insufficient_funds", hosted_url="https://pay.test/i/1"
    )
    sign_in(app_client, vendor.api_key, acme)
    text = pdf_text(app_client.get(f"/portal/invoices/{invoice_id}/pdf").content)
    assert "Status Payment failed: The card has insufficient funds." in text
    page = app_client.get(f"/portal/invoices/{invoice_id}")
    assert "Payment failed: The card has insufficient funds." in page.text
    assert 'id="pay-invoice" href="https://pay.test/i/1"' in page.text
    assert "Pay $26.53" in page.text


def test_the_pdf_is_behind_the_customers_session(
    app_client: TestClient,
    engine: Engine,
    vendor: VendorFixture,
    acme: str,  # noqa: F811
    plan_id: str,  # noqa: F811
) -> None:
    invoice_id = october_invoice(engine, vendor.id, acme)
    assert app_client.get(f"/portal/invoices/{invoice_id}/pdf").status_code in (401, 403)
    globex = create_customer(engine, vendor.id, "globex", plan_id)
    sign_in(app_client, vendor.api_key, globex)
    stranger = app_client.get(f"/portal/invoices/{invoice_id}/pdf")
    assert stranger.status_code == 404 and not stranger.content.startswith(b"%PDF")
