"""The portal on a phone-sized screen (390 x 844, touch), in Chromium: the navigation is
there and usable and no page is wider than the screen. Each page is saved as a PNG in the
artifacts folder (see conftest)."""

from __future__ import annotations

from playwright.sync_api import Page

from tests.browser.conftest import PHONE, PortalApp, Shot
from tests.browser.pages import follow, heading, sign_in

NAV = ["Overview", "Outcomes", "Invoices", "Disputes"]


def test_a_phone_gets_the_navigation_and_no_sideways_scroll(
    phone_page: Page, portal_app: PortalApp, shot: Shot
) -> None:
    sign_in(phone_page, portal_app, portal_app.seeded.acme)
    nav = phone_page.get_by_role("navigation", name="Billing portal")
    for name in NAV:
        link = nav.get_by_role("link", name=name, exact=True)
        assert link.is_visible(), name
        box = link.bounding_box()
        assert box is not None
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= PHONE["width"], name
    assert nav.get_by_role("link", name="Overview").get_attribute("aria-current") == "page"
    shot(phone_page, "overview")

    for name in NAV[1:]:
        follow(phone_page, nav.get_by_role("link", name=name, exact=True), tap=True)
        phone_page.wait_for_load_state()
        shot(phone_page, name.lower())
        assert heading(phone_page) == name
        assert nav.get_by_role("link", name=name).get_attribute("aria-current") == "page"
        page_width = phone_page.evaluate("document.documentElement.scrollWidth")
        assert page_width <= PHONE["width"], f"{name} page is {page_width}px wide"
