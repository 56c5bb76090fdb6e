"""One invoice in the console: its lines, tax and totals as printed, the status with why the
payment failed, payments recorded, links to the customer and from the list and the customer's
page, the PDF, and the void and retry actions the list offers (through the same
confirmation pages)."""

from __future__ import annotations

import re
from decimal import Decimal

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from tests.metering.billing.invoices.helpers import update_payment_link
from tests.metering.platform.api.support import bearer
from tests.metering.surfaces.portal.helpers import pdf_text
from tests.metering.surfaces.vendor_web.scenario import Books


def text_of(page: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</', page, re.S)
    assert found is not None, element_id
    return re.sub(r"<[^>]+>", "", found[1]).strip()


def totals_of(page: str) -> list[tuple[str, str]]:
    """The footer rows of the lines table: (label, amount)."""
    found: list[tuple[str, str]] = re.findall(
        r'<th scope="row" colspan="2">([^<]+)</th><td class="num"[^>]*>([^<]+)<', page
    )
    return found


def api_invoice(client: TestClient, books: Books, invoice_id: str) -> dict[str, object]:
    answer = client.get(f"/v1/invoices/{invoice_id}", headers=bearer(books.vendor.api_key))
    assert answer.status_code == 200
    shown: dict[str, object] = answer.json()
    return shown


def test_a_failed_invoice_shows_its_lines_totals_reason_and_both_actions(
    app_client: TestClient, signed_in: Books
) -> None:
    invoice_id = signed_in.invoices["acme"]
    api = api_invoice(app_client, signed_in, invoice_id)
    page = app_client.get(f"/vendor/invoices/{invoice_id}")
    assert page.status_code == 200
    text = page.text
    assert re.search(rf"<h1>Invoice #{api['number']} ", text)
    assert "Payment failed" in text
    reason = api["payment_error"]
    assert isinstance(reason, dict)
    assert text_of(text, "failure-reason") == reason["message"]
    assert text_of(text, "invoice-status") == f"Payment failed: {reason['message']}"
    assert text_of(text, "amount-due") == "$25.00" and Decimal(str(api["amount_due"])) == 25
    assert totals_of(text) == [("Total", "$25.00"), ("Amount due", "$25.00")]
    assert "Platform fee" in text  # a line of the invoice
    assert f'href="/vendor/customers/{signed_in.customers["acme"]}"' in text
    assert f'href="/vendor/invoices/{invoice_id}/void"' in text
    assert f'href="/vendor/invoices/{invoice_id}/retry"' in text
    assert f'href="/vendor/invoices/{invoice_id}/pdf"' in text


def test_tax_and_payments_recorded_are_shown(
    engine: Engine, app_client: TestClient, signed_in: Books
) -> None:
    invoice_id = signed_in.invoices["globex"]
    update_payment_link(
        engine,
        invoice_id,
        tax=Decimal("4.75"),
        tax_lines=[{"description": "VAT (DE)", "rate": "19", "amount": "4.75"}],
    )
    paid = app_client.post(
        f"/v1/invoices/{invoice_id}/payments",
        json={"amount": "10.00", "paid_on": "2026-11-20", "reference": "TR-4411"},
        headers=bearer(signed_in.vendor.api_key),
    )
    assert paid.status_code in (200, 201), paid.text
    text = app_client.get(f"/vendor/invoices/{invoice_id}").text
    assert totals_of(text) == [
        ("Subtotal", "$25.00"),
        ("VAT (DE) (19%)", "$4.75"),
        ("Total", "$29.75"),
        ("Paid", "$10.00"),
        ("Amount due", "$19.75"),
    ]
    assert "TR-4411" in text and "$10.00" in text
    assert text_of(text, "amount-paid") == "$10.00"
    assert text_of(text, "amount-due") == "$19.75"
    assert f'href="/vendor/invoices/{invoice_id}/void"' in text
    assert f'href="/vendor/invoices/{invoice_id}/retry"' not in text


def test_a_paid_invoice_offers_no_action(app_client: TestClient, signed_in: Books) -> None:
    invoice_id = signed_in.invoices["initech"]
    text = app_client.get(f"/vendor/invoices/{invoice_id}").text
    assert "Paid" in text
    assert f"/vendor/invoices/{invoice_id}/void" not in text
    assert f"/vendor/invoices/{invoice_id}/retry" not in text
    assert text_of(text, "amount-due") == "$0.00"


def test_the_list_and_the_customers_page_link_to_it(
    app_client: TestClient, signed_in: Books
) -> None:
    invoice_id = signed_in.invoices["acme"]
    link = f'href="/vendor/invoices/{invoice_id}"'
    assert link in app_client.get("/vendor/invoices").text
    assert link in app_client.get(f"/vendor/customers/{signed_in.customers['acme']}").text
    confirm = app_client.get(f"/vendor/invoices/{invoice_id}/void").text
    assert link in confirm  # back to the invoice instead of voiding it


def test_the_pdf_is_the_printed_invoice(app_client: TestClient, signed_in: Books) -> None:
    invoice_id = signed_in.invoices["acme"]
    number = api_invoice(app_client, signed_in, invoice_id)["number"]
    answer = app_client.get(f"/vendor/invoices/{invoice_id}/pdf")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/pdf"
    assert f'filename="invoice-{number}.pdf"' in answer.headers["content-disposition"]
    text = pdf_text(answer.content)
    assert "Acme AI" in text and f"Invoice #{number}" in text
    assert "acme" in text and "Platform fee" in text
    assert re.search(r"Total \$25\.00", text)
