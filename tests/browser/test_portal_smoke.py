"""Smoke: Chromium reaches the service process and the seeded data is what the other browser
tests build on. The page is saved as a PNG in the artifacts folder (see conftest)."""

from __future__ import annotations

from playwright.sync_api import Page

from tests.browser.conftest import PortalApp, Shot


def test_the_browser_reaches_the_running_service(
    page: Page, portal_app: PortalApp, shot: Shot
) -> None:
    response = page.goto("/readyz")
    assert response is not None
    assert response.status == 200
    shot(page, "readyz")
    (invoice,) = portal_app.api.invoices(portal_app.seeded.acme)
    assert (invoice["status"], invoice["total"]) == ("issued", "10.00")
    assert [(line["description"], line["amount"]) for line in invoice["lines"]] == [
        ("Resolved conversations", "4.50"),
        ("Platform fee", "5.00"),
        ("Minimum spend true-up", "0.50"),
    ]
