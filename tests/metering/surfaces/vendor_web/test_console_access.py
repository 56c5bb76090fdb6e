"""Every console page needs a signed-in vendor; every action needs the session's form token;
and another vendor's objects are 404 to read and to act on, changing nothing."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from metering.ledger.disputes.models import Dispute
from metering.platform.outbox.models import WebhookDelivery
from metering.surfaces.portal.models import PortalSession
from tests.metering.surfaces.vendor_web.scenario import (
    Books,
    csrf,
    invoice_status,
    sign_in,
)

PAGES = [
    "/vendor/customers",
    "/vendor/invoices",
    "/vendor/disputes",
    "/vendor/webhooks",
    "/vendor/alerts",
]


def actions(books: Books) -> list[str]:
    return [
        f"/vendor/invoices/{books.invoices['acme']}/void",
        f"/vendor/invoices/{books.invoices['acme']}/retry",
        f"/vendor/disputes/{books.dispute}/accept",
        f"/vendor/disputes/{books.dispute}/reject",
        f"/vendor/webhooks/{books.delivery}/retry",
        f"/vendor/customers/{books.customers['acme']}/portal_link",
    ]


def unchanged(engine: Engine, books: Books) -> None:
    """Nothing an action could have done has happened."""
    assert invoice_status(engine, books.invoices["acme"]) == "payment_failed"
    with Session(engine) as session:
        dispute = session.get(Dispute, books.dispute)
        delivery = session.get(WebhookDelivery, books.delivery)
        assert dispute is not None and dispute.status == "open"
        assert delivery is not None and delivery.status == "failed"
        assert session.exec(select(PortalSession)).all() == []


def test_pages_and_actions_need_a_signed_in_vendor(
    engine: Engine, app_client: TestClient, books: Books
) -> None:
    acme = books.invoices["acme"]
    for path in [
        *PAGES,
        f"/vendor/customers/{books.customers['acme']}",
        f"/vendor/invoices/{acme}",
        f"/vendor/invoices/{acme}/pdf",
    ]:
        answer = app_client.get(path, follow_redirects=False)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/vendor/login?next=")
    for path in actions(books):
        answer = app_client.post(path, data={"note": "x"}, follow_redirects=False)
        assert answer.status_code == 303, path
    unchanged(engine, books)


def test_every_page_shows_the_console_navigation(app_client: TestClient, books: Books) -> None:
    sign_in(app_client, books.vendor.api_key)
    for path in PAGES:
        page = app_client.get(path)
        assert page.status_code == 200, path
        assert 'aria-label="Vendor console"' in page.text
        assert f'href="{path}" aria-current="page"' in page.text
        assert "/static/console.css" in page.text


def test_an_action_without_the_form_token_is_refused(
    engine: Engine, app_client: TestClient, books: Books
) -> None:
    sign_in(app_client, books.vendor.api_key)
    for path in actions(books):
        for token in ("", "guess"):
            answer = app_client.post(path, data={"csrf_token": token, "note": "x"})
            assert answer.status_code == 403, path
            assert "This form has expired or was not sent from this console" in answer.text
    unchanged(engine, books)


def test_another_vendors_objects_are_not_found_and_stay_as_they_were(
    engine: Engine, app_client: TestClient, books: Books
) -> None:
    sign_in(app_client, books.other.api_key)
    token = csrf(app_client)
    reads = [
        f"/vendor/customers/{books.customers['acme']}",
        f"/vendor/invoices/{books.invoices['acme']}/void",
        f"/vendor/invoices/{books.invoices['acme']}/retry",
        f"/vendor/invoices/{books.invoices['acme']}",
        f"/vendor/invoices/{books.invoices['acme']}/pdf",
    ]
    for path in reads:
        answer = app_client.get(path)
        assert answer.status_code == 404, path
        assert "acme" not in answer.text
    for path in actions(books):
        answer = app_client.post(path, data={"csrf_token": token, "note": "No"})
        assert answer.status_code == 404, path
    unchanged(engine, books)
    for path in PAGES:
        text = app_client.get(path).text
        for name in ("acme", "globex", "initech", books.dispute, books.delivery):
            assert name not in text, (path, name)
    assert "hooli" in app_client.get("/vendor/customers").text


def test_the_vendors_own_objects_are_listed(app_client: TestClient, books: Books) -> None:
    sign_in(app_client, books.vendor.api_key)
    assert all(n in app_client.get("/vendor/customers").text for n in ("acme", "globex", "initech"))
    assert "hooli" not in app_client.get("/vendor/customers").text
    assert books.dispute in app_client.get("/vendor/disputes").text
    assert books.delivery in app_client.get("/vendor/webhooks").text
    assert "Any spend" in app_client.get("/vendor/alerts").text
