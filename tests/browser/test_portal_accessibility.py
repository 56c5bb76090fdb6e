"""Basic accessibility of every portal page, in Chromium: a language, labelled form fields,
named tables, text alternatives for charts, readable contrast of the branded header, and
keyboard use (skip link, a filter sent with Enter). Each page is saved as a full-page PNG in
the artifacts folder (see conftest)."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Page

from tests.browser.conftest import PortalApp, Shot
from tests.browser.pages import follow, heading, shown_outcomes, sign_in

UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea, button')]
  .filter(e => e.type !== 'hidden')
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
               && !e.getAttribute('aria-labelledby')
               && !(e.tagName === 'BUTTON' && e.innerText.trim()))
  .map(e => e.outerHTML.slice(0, 120))"""
UNNAMED_TABLES = """() => [...document.querySelectorAll('table')]
  .filter(t => !(t.caption && t.caption.textContent.trim()) && !t.getAttribute('aria-label')
               && !t.getAttribute('aria-labelledby'))
  .map(t => t.outerHTML.slice(0, 120))"""
UNDESCRIBED_GRAPHICS = """() => [...document.querySelectorAll('svg, img')]
  .filter(g => g.getAttribute('aria-hidden') !== 'true')
  .filter(g => !g.getAttribute('alt') && !g.getAttribute('aria-label')
               && !g.getAttribute('aria-labelledby') && !g.querySelector('title'))
  .map(g => g.outerHTML.slice(0, 120))"""
COLOURS = """selector => {
  const element = document.querySelector(selector);
  let behind = element, background = 'rgba(0, 0, 0, 0)';
  while (behind && (background === 'rgba(0, 0, 0, 0)' || background === 'transparent')) {
    background = getComputedStyle(behind).backgroundColor;
    behind = behind.parentElement;
  }
  return [getComputedStyle(element).color, background];
}"""


def luminance(css: str) -> float:
    red, green, blue = (int(part) / 255 for part in re.findall(r"\d+", css)[:3])

    def linear(channel: float) -> float:
        return channel / 12.92 if channel <= 0.03928 else ((channel + 0.055) / 1.055) ** 2.4

    return 0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue)


def contrast(page: Page, selector: str) -> float:
    """WCAG contrast ratio of an element's text on the background behind it."""
    colours: list[Any] = page.evaluate(COLOURS, selector)
    light, dark = sorted((luminance(colours[0]), luminance(colours[1])), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def check(page: Page, shot: Shot, name: str) -> None:
    assert page.evaluate("document.documentElement.lang"), name
    assert page.evaluate(UNLABELLED) == [], name
    assert page.evaluate(UNNAMED_TABLES) == [], name
    assert page.evaluate(UNDESCRIBED_GRAPHICS) == [], name
    for selector in (".brand-name", ".main-nav a[aria-current]", "main h1"):
        if page.locator(selector).count():
            assert contrast(page, selector) >= 4.5, (name, selector)
    shot(page, name)


def test_every_page_is_labelled_named_and_readable(
    page: Page, portal_app: PortalApp, shot: Shot
) -> None:
    customer = portal_app.seeded.acme
    (invoice,) = portal_app.api.invoices(customer)
    sign_in(page, portal_app, customer)
    check(page, shot, "overview")
    for path, name in (
        ("/portal/outcomes", "outcomes"),
        (f"/portal/invoices/{invoice['id']}", "invoice"),
        ("/portal/invoices", "invoices"),
        ("/portal/disputes", "disputes"),
    ):
        response = page.goto(path)
        assert response is not None
        assert response.status == 200, path
        check(page, shot, name)
    page.goto("/portal/outcomes?q=c-4")
    follow(page, page.get_by_role("table", name="Outcomes").get_by_role("link", name="Details"))
    check(page, shot, "outcome")


def test_the_keyboard_reaches_the_content_and_sends_a_filter(
    page: Page, portal_app: PortalApp, shot: Shot
) -> None:
    sign_in(page, portal_app, portal_app.seeded.acme)
    page.goto("/portal/outcomes")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to main content")
    assert skip.evaluate("element => element === document.activeElement")
    assert skip.is_visible()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"

    search = page.get_by_label("Search key or event id")
    for _ in range(30):
        if search.evaluate("element => element === document.activeElement"):
            break
        page.keyboard.press("Tab")
    else:
        raise AssertionError("Tab never reached the search field")
    page.keyboard.type("c-4")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"q=c-4"))
    assert heading(page) == "Outcomes"
    assert [row["Counted once per"] for row in shown_outcomes(page)] == ["c-4"]
    shot(page, "filtered-by-keyboard")
