"""The vendor's name, colour and way back in the portal header, in Chromium: set through the
vendor API, shown with text that stays readable on a light colour. Each page is saved as a
full-page PNG in the artifacts folder (see conftest)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page

from tests.browser.conftest import PortalApp, Shot
from tests.browser.pages import contrast_ratio

YELLOW = "#fde047"


@pytest.fixture
def branded(portal_app: PortalApp) -> Iterator[PortalApp]:
    """The vendor named "Acme Support" in yellow for one test, its defaults back after."""
    body = {"portal_name": "Acme Support", "portal_color": YELLOW}
    portal_app.api.call("PATCH", "/v1/vendor/portal", json=body)
    try:
        yield portal_app
    finally:
        reset = {"portal_name": None, "portal_color": None}
        portal_app.api.call("PATCH", "/v1/vendor/portal", json=reset)


def test_the_header_carries_the_vendors_name_colour_and_way_back(
    page: Page, branded: PortalApp, shot: Shot
) -> None:
    back = "https://app.acme.test/settings/billing"
    response = page.goto(branded.api.portal_link(branded.seeded.acme, return_url=back))
    assert response is not None
    assert response.status == 200
    header = page.locator("header.site-header")
    assert page.locator(".brand-name").inner_text() == "Acme Support"
    assert page.title().endswith("Acme Support")
    background = header.evaluate("element => getComputedStyle(element).backgroundColor")
    assert background == "rgb(253, 224, 71)"
    text = page.locator(".brand-name").evaluate("element => getComputedStyle(element).color")
    assert contrast_ratio(text, background) >= 4.5
    in_page = page.get_by_role("link", name="See every outcome")
    link_colour = in_page.evaluate("element => getComputedStyle(element).color")
    assert contrast_ratio(link_colour, "rgb(255, 255, 255)") >= 4.5  # links in the brand hue
    link = page.get_by_role("link", name="Back to Acme Support")
    assert link.get_attribute("href") == back
    shot(page, "overview")
