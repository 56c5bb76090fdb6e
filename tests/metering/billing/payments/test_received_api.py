"""`POST/GET /v1/invoices/{id}/payments`: money received outside the provider (a bank
transfer, a cheque), partial or full, recorded once per reference."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from metering.billing.invoices.models import InvoiceStatus
from metering.platform.db.types import utcnow
from tests.metering.billing.invoices.helpers import (
    payment_link,
    update_invoice,
    update_payment_link,
)
from tests.metering.conftest import VendorFixture, create_vendor
from tests.metering.platform.api.support import bearer
from tests.metering.providers.stripe.factory import NOW, billing, invoice_row, issued_invoice

TODAY = utcnow().date()


def invoice_of(engine: Engine, vendor: VendorFixture, amounts: list[str], **given: Any) -> str:
    """An issued invoice of a customer of the vendor, left to its provider (manual)."""
    billed = billing(engine, vendor_id=vendor.id)
    return issued_invoice(engine, billed, amounts, provider="manual", **given)


def pay(
    client: TestClient,
    vendor: VendorFixture,
    invoice_id: str,
    amount: str,
    reference: str,
    **more: Any,
) -> httpx.Response:
    body = {"amount": amount, "paid_on": TODAY.isoformat(), "reference": reference, **more}
    return client.post(
        f"/v1/invoices/{invoice_id}/payments", json=body, headers=bearer(vendor.api_key)
    )


def shown(client: TestClient, vendor: VendorFixture, invoice_id: str) -> dict[str, Any]:
    answer = client.get(f"/v1/invoices/{invoice_id}", headers=bearer(vendor.api_key))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_partial_payments_are_kept_and_the_last_one_pays_the_invoice(
    app_client: TestClient, engine: Engine, vendor: VendorFixture
) -> None:
    invoice_id = invoice_of(engine, vendor, ["100.00", "-0.01"])  # 99.99 usd

    first = pay(app_client, vendor, invoice_id, "40", "TRX-1", method="bank_transfer")
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["payment"] == {
        "id": body["payment"]["id"],
        "invoice_id": invoice_id,
        "amount": "40.00",
        "currency": "usd",
        "paid_on": TODAY.isoformat(),
        "reference": "TRX-1",
        "method": "bank_transfer",
        "created_at": body["payment"]["created_at"],
    }
    assert (body["invoice"]["status"], body["invoice"]["amount_paid"]) == ("issued", "40.00")
    assert body["invoice"]["amount_due"] == "59.99"

    second = pay(app_client, vendor, invoice_id, "59.99", "CHQ-0042", method="cheque")

    assert second.status_code == 201, second.text
    invoice = shown(app_client, vendor, invoice_id)
    assert (invoice["status"], invoice["amount_paid"], invoice["amount_due"]) == (
        "paid",
        "99.99",
        "0.00",
    )
    assert invoice["paid_at"] is not None
    assert [(p["reference"], p["amount"], p["method"]) for p in invoice["payments"]] == [
        ("TRX-1", "40.00", "bank_transfer"),
        ("CHQ-0042", "59.99", "cheque"),
    ]
    listed = app_client.get(
        f"/v1/invoices/{invoice_id}/payments?limit=1", headers=bearer(vendor.api_key)
    ).json()
    rest = app_client.get(
        f"/v1/invoices/{invoice_id}/payments?cursor={listed['next_cursor']}",
        headers=bearer(vendor.api_key),
    ).json()
    assert [p["reference"] for p in listed["data"] + rest["data"]] == ["TRX-1", "CHQ-0042"]
    assert rest["next_cursor"] is None
    # Paid: no more payment is taken.
    late = pay(app_client, vendor, invoice_id, "1.00", "TRX-2")
    assert (late.status_code, late.json()["type"]) == (409, "/problems/invoice-not-payable")


def test_the_same_reference_records_once(
    app_client: TestClient, engine: Engine, vendor: VendorFixture
) -> None:
    invoice_id = invoice_of(engine, vendor, ["50.00"])

    first = pay(app_client, vendor, invoice_id, "20.00", "TRX-9")
    again = pay(app_client, vendor, invoice_id, "20", "TRX-9")
    other = pay(app_client, vendor, invoice_id, "25.00", "TRX-9")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["payment"] == first.json()["payment"]
    assert again.json()["invoice"]["amount_paid"] == "20.00"
    assert other.status_code == 409
    assert other.json()["type"] == "/problems/payment-reference-conflict"
    assert other.json()["payment_id"] == first.json()["payment"]["id"]
    assert "as 20.00 usd paid on" in other.json()["detail"]
    assert len(shown(app_client, vendor, invoice_id)["payments"]) == 1


@pytest.mark.parametrize(
    ("amount", "detail"),
    [
        ("0", "amount 0 is not above zero."),
        ("0.00", "amount 0.00 is not above zero."),
        ("10.001", "amount 10.001 has more decimals than usd has (2)."),
        ("50.01", "is more than the 50.00 usd due on invoice"),
    ],
)
def test_an_amount_the_invoice_cannot_take_is_refused(
    app_client: TestClient, engine: Engine, vendor: VendorFixture, amount: str, detail: str
) -> None:
    invoice_id = invoice_of(engine, vendor, ["50.00"])

    answer = pay(app_client, vendor, invoice_id, amount, "TRX-1")

    assert answer.status_code == 422
    assert answer.json()["type"] == "/problems/invalid-payment"
    assert detail in answer.json()["detail"]
    assert shown(app_client, vendor, invoice_id)["payments"] == []


def test_the_currencys_decimals_and_what_is_due_after_a_partial_payment(
    app_client: TestClient, engine: Engine, vendor: VendorFixture
) -> None:
    invoice_id = invoice_of(engine, vendor, ["1200"])
    update_invoice(engine, invoice_id, currency="jpy")
    assert pay(app_client, vendor, invoice_id, "1000", "A").status_code == 201

    fraction = pay(app_client, vendor, invoice_id, "100.5", "B")
    above = pay(app_client, vendor, invoice_id, "201", "C")

    assert fraction.json()["detail"] == "amount 100.5 has more decimals than jpy has (0)."
    assert "is more than the 200 jpy due" in above.json()["detail"]


def test_bad_bodies_and_dates_are_refused(
    app_client: TestClient, engine: Engine, vendor: VendorFixture
) -> None:
    invoice_id = invoice_of(engine, vendor, ["50.00"])
    tomorrow = (TODAY + timedelta(days=2)).isoformat()

    negative = pay(app_client, vendor, invoice_id, "-5", "TRX-1")
    unknown = pay(app_client, vendor, invoice_id, "5", "TRX-1", method="bitcoin")
    future = pay(app_client, vendor, invoice_id, "5", "TRX-1", paid_on=tomorrow)
    blank = pay(app_client, vendor, invoice_id, "5", "  ")

    for answer in (negative, unknown, blank):
        assert (answer.status_code, answer.json()["type"]) == (422, "/problems/invalid-request")
    assert (future.status_code, future.json()["detail"]) == (
        422,
        f"paid_on {tomorrow} is in the future.",
    )


@pytest.mark.parametrize("status", ["draft", "void", "paid"])
def test_only_open_invoices_take_payments(
    app_client: TestClient, engine: Engine, vendor: VendorFixture, status: str
) -> None:
    invoice_id = invoice_of(engine, vendor, ["50.00"])
    update_invoice(engine, invoice_id, status=status)

    answer = pay(app_client, vendor, invoice_id, "5.00", "TRX-1")

    assert answer.status_code == 409
    assert answer.json()["detail"] == (
        f"Invoice '{invoice_id}' is {status}: payments are recorded against issued and "
        "payment_failed invoices."
    )


def test_another_vendors_invoice_is_not_found(
    app_client: TestClient, engine: Engine, vendor: VendorFixture
) -> None:
    invoice_id = invoice_of(engine, vendor, ["50.00"])
    other = create_vendor(engine, "Other")

    assert pay(app_client, other, invoice_id, "5.00", "TRX-1").status_code == 404
    listed = app_client.get(f"/v1/invoices/{invoice_id}/payments", headers=bearer(other.api_key))
    assert listed.status_code == 404


def test_a_partly_paid_failed_invoice_is_not_retried(
    app_client: TestClient, engine: Engine, vendor: VendorFixture
) -> None:
    """The provider would charge the whole total: retries stop once part is paid outside."""
    invoice_id = invoice_of(engine, vendor, ["50.00"])
    update_invoice(engine, invoice_id, status=InvoiceStatus.PAYMENT_FAILED.value)
    update_payment_link(engine, invoice_id, step="failed", next_attempt_at=NOW + timedelta(days=3))

    assert pay(app_client, vendor, invoice_id, "10.00", "TRX-1").status_code == 201

    assert payment_link(engine, invoice_id).next_attempt_at is None
    assert invoice_row(engine, invoice_id).status == InvoiceStatus.PAYMENT_FAILED


def test_two_payments_at_once_never_pay_more_than_is_due(
    app: Any, engine: Engine, vendor: VendorFixture
) -> None:
    invoice_id = invoice_of(engine, vendor, ["50.00"])
    start = threading.Barrier(2)
    answers: list[int] = []

    def record(reference: str) -> None:
        with TestClient(app) as client:
            start.wait()
            answers.append(pay(client, vendor, invoice_id, "30.00", reference).status_code)

    threads = [threading.Thread(target=record, args=(f"TRX-{n}",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(answers) == [201, 422]
    with TestClient(app) as client:
        invoice = shown(client, vendor, invoice_id)
    assert (invoice["amount_paid"], invoice["amount_due"]) == ("30.00", "20.00")
