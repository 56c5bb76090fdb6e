"""Basic accessibility of every portal page, in Chromium: a language, labelled form fields,
named tables, text alternatives for charts, readable contrast of the branded header, and
keyboard use (skip link, a filter sent with Enter). Each page is saved as a full-page PNG in
the artifacts folder (see conftest)."""

from __future__ import annotations

import re

from playwright.sync_api import Page

from tests.browser.conftest import PortalApp, Shot
from tests.browser.pages import contrast_ratio, follow, heading, shown_outcomes, sign_in

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


def contrast(page: Page, selector: str) -> float:
    """WCAG contrast ratio of an element's text on the background behind it."""
    text, background = page.evaluate(COLOURS, selector)
    return contrast_ratio(text, background)


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
