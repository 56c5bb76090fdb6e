"""The invoices page: failed payments first, filtered by status; void and retry payment
each ask first, then go through the API's services (a paid invoice cannot be voided)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from tests.metering.billing.invoices.helpers import payment_link
from tests.metering.surfaces.reports.test_vendor_pages import csrf_of
from tests.metering.surfaces.vendor_web.scenario import (
    Books,
    invoice_status,
)


def shown_ids(page: str) -> list[str]:
    return re.findall(r'<tr id="row-(inv_[^"]+)"', page)


def test_failed_payments_come_first_and_the_status_filter(
    app_client: TestClient, signed_in: Books
) -> None:
    page = app_client.get("/vendor/invoices").text
    ids = shown_ids(page)
    assert ids[0] == signed_in.invoices["acme"]
    assert sorted(ids) == sorted(signed_in.invoices.values())
    assert "Payment failed" in page and "$25.00" in page
    paid = app_client.get("/vendor/invoices", params={"status": "paid"}).text
    assert shown_ids(paid) == [signed_in.invoices["initech"]]
    none = app_client.get("/vendor/invoices", params={"status": "void"}).text
    assert "No invoice is void." in none


def test_actions_are_offered_by_status(app_client: TestClient, signed_in: Books) -> None:
    page = app_client.get("/vendor/invoices").text
    acme, globex, initech = (signed_in.invoices[n] for n in ("acme", "globex", "initech"))
    assert f"/vendor/invoices/{acme}/retry" in page and f"/vendor/invoices/{acme}/void" in page
    assert f"/vendor/invoices/{globex}/void" in page
    assert f"/vendor/invoices/{globex}/retry" not in page
    assert f"/vendor/invoices/{initech}/" not in page


def test_void_asks_first_then_voids(
    engine: Engine, app_client: TestClient, signed_in: Books
) -> None:
    invoice = signed_in.invoices["globex"]
    confirm = app_client.get(f"/vendor/invoices/{invoice}/void")
    assert confirm.status_code == 200
    assert "This cannot be undone." in confirm.text
    assert invoice_status(engine, invoice) == "issued"  # asking changes nothing
    done = app_client.post(
        f"/vendor/invoices/{invoice}/void", data={"csrf_token": csrf_of(confirm.text)}
    )
    assert done.status_code == 200
    assert invoice_status(engine, invoice) == "void"
    assert re.search(r"Invoice #\d+ was voided\.", done.text)


def test_a_paid_invoice_cannot_be_voided(
    engine: Engine, app_client: TestClient, signed_in: Books
) -> None:
    invoice = signed_in.invoices["initech"]
    confirm = app_client.get(f"/vendor/invoices/{invoice}/void")
    assert confirm.status_code == 409
    assert "Void is not possible" in confirm.text and "is paid" in confirm.text
    token = csrf_of(app_client.get("/vendor/invoices").text)
    refused = app_client.post(f"/vendor/invoices/{invoice}/void", data={"csrf_token": token})
    assert refused.status_code == 409
    assert invoice_status(engine, invoice) == "paid"


def test_retry_payment_makes_the_failed_payment_due_now(
    engine: Engine, app_client: TestClient, signed_in: Books
) -> None:
    invoice = signed_in.invoices["acme"]
    confirm = app_client.get(f"/vendor/invoices/{invoice}/retry")
    assert "charged again now" in confirm.text
    done = app_client.post(
        f"/vendor/invoices/{invoice}/retry", data={"csrf_token": csrf_of(confirm.text)}
    )
    assert done.status_code == 200
    assert "will be charged again in a moment" in done.text
    link = payment_link(engine, invoice)
    assert link.step == "finalized" and link.error is None
    assert link.next_attempt_at is not None
    assert (
        app_client.get(f"/vendor/invoices/{signed_in.invoices['globex']}/retry").status_code == 409
    )


def test_an_unknown_action_or_invoice_is_not_found(
    app_client: TestClient, signed_in: Books
) -> None:
    assert (
        app_client.get(f"/vendor/invoices/{signed_in.invoices['acme']}/delete").status_code == 404
    )
    assert app_client.get("/vendor/invoices/inv_nothing/void").status_code == 404
