"""Reading and working the portal's pages the way a customer does: by role, label and text.

Amounts are read as shown and parsed back in the customer's locale, so a comparison with
the API is to the cent and also checks the formatting.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from axe_playwright_python.sync_playwright import Axe
from babel.numbers import parse_decimal
from playwright.sync_api import Locator, Page

if TYPE_CHECKING:
    from tests.browser.conftest import PortalApp

Row = dict[str, str]


def sign_in(page: Page, app: PortalApp, customer_id: str) -> None:
    """Open a fresh portal link of the customer, as the customer's browser does."""
    response = page.goto(app.api.portal_link(customer_id))
    assert response is not None
    assert response.status == 200, f"{page.url}: {response.status} {page.inner_text('main')}"
    assert page.url == f"{app.url}/portal"


def follow(page: Page, target: Locator, *, tap: bool = False) -> None:
    """Click (or tap) a link or submit button and wait until the next page has loaded, so
    nothing is read from the page being left."""
    with page.expect_navigation():
        if tap:
            target.tap()
        else:
            target.click()


def go_to(page: Page, name: str) -> None:
    """Follow the portal's main navigation to `name` (Overview, Outcomes, ...)."""
    nav = page.get_by_role("navigation", name="Billing portal")
    follow(page, nav.get_by_role("link", name=name, exact=True))


def heading(page: Page) -> str:
    """The page's first-level heading, as a screen reader announces it."""
    return page.get_by_role("heading", level=1).inner_text().strip()


def money(text: str, locale: str = "en_US") -> Decimal:
    """An amount as the page shows it (`$1,234.50`, `-$0.99`) read back exactly."""
    digits = re.sub(r"[^0-9,.\-\u2212]", "", text).replace("\u2212", "-")
    assert digits, f"no amount in {text!r}"
    parsed: Decimal = parse_decimal(digits, locale=locale, strict=True)
    return parsed


def luminance(css_colour: str) -> float:
    """WCAG relative luminance of a computed colour such as `rgb(79, 70, 229)`."""
    red, green, blue = (int(part) / 255 for part in re.findall(r"\d+", css_colour)[:3])

    def linear(channel: float) -> float:
        return channel / 12.92 if channel <= 0.03928 else ((channel + 0.055) / 1.055) ** 2.4

    return 0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue)


def contrast_ratio(first: str, second: str) -> float:
    """WCAG contrast ratio of two computed colours (4.5 is the minimum for body text)."""
    light, dark = sorted((luminance(first), luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def counted_outcomes(upcoming: dict[str, Any]) -> int:
    """Outcomes an upcoming invoice (API) counts: those behind its lines and those pending."""
    priced = sum(int(line["outcome_count"]) for line in upcoming["lines"] if line["outcome"])
    return priced + sum(int(pending["count"]) for pending in upcoming["pending"])


def table_rows(table: Locator) -> list[tuple[str, str]]:
    """Each body row's heading cell (first line) and last cell, as shown."""
    rows = []
    for row in table.locator("tbody tr").all():
        label = row.locator("th").inner_text().strip().splitlines()[0]
        rows.append((label, row.locator("td").last.inner_text().strip()))
    return rows


def shown_outcomes(page: Page) -> list[Row]:
    """The outcome table's rows, each cell under its column heading (status: first line)."""
    table = page.get_by_role("table", name="Outcomes")
    titles = [title.strip() for title in table.locator("thead th").all_inner_texts()]
    rows = []
    for row in table.locator("tbody tr").all():
        cells = [cell.strip() for cell in row.locator("td").all_inner_texts()]
        if len(cells) == len(titles):
            shown = dict(zip(titles, cells, strict=True))
            shown["Status"] = shown["Status"].splitlines()[0]
            rows.append(shown)
    return rows


def apply_filters(page: Page, **choices: str) -> None:
    """Fill the filter form by its labels (selects by option text) and send it."""
    form = page.get_by_role("search", name="Filter outcomes")
    for label, value in choices.items():
        field = form.get_by_label(label, exact=True)
        if field.evaluate("element => element.tagName") == "SELECT":
            field.select_option(label=value)
        else:
            field.fill(value)
    follow(page, form.get_by_role("button", name="Apply filters"))


# --- Layout and accessibility checks every page gets (see metering/platform/README.md) ---

AXE = Axe()
BLOCKING_IMPACTS = ("serious", "critical")
PHONE_WIDEST = 640  # below this the stylesheet stacks tables into cards (portal.css)

# Every cell of every table's body and footer, amounts (`.num`, `data-amount`) among them.
BODY_CELLS = "table > tbody > tr > *, table > tfoot > tr > *"
CELLS_OUTSIDE = """([selector, widest]) => [...document.querySelectorAll(selector)]
  .filter(cell => cell.getClientRects().length && cell.innerText.trim())
  .filter(cell => {
    const box = cell.getBoundingClientRect();
    return box.left < 0 || box.right > widest;
  })
  .map(cell => {
    const box = cell.getBoundingClientRect(), table = cell.closest('table');
    const name = table.getAttribute('aria-label') || table.getAttribute('aria-labelledby');
    return `${cell.innerText.trim()} at ${Math.round(box.left)}..${Math.round(box.right)}px`
      + ` in ${name || 'a table'}`;
  })"""
# The size a chart label is drawn at: its font size in the drawing times the drawing's scale.
CHART_LABEL_SIZES = """() => [...document.querySelectorAll('figure.chart svg text')]
  .filter(text => text.getClientRects().length)
  .map(text => [text.textContent, parseFloat(getComputedStyle(text).fontSize)
                                  * text.ownerSVGElement.getScreenCTM().a])"""
CLIPPED_CHART_LABELS = """() => [...document.querySelectorAll('figure.chart svg text')]
  .filter(text => text.getClientRects().length)
  .filter(text => {
    const label = text.getBoundingClientRect();
    const drawing = text.ownerSVGElement.getBoundingClientRect();
    return label.top < drawing.top - 0.5 || label.bottom > drawing.bottom + 0.5
        || label.left < drawing.left - 0.5 || label.right > drawing.right + 0.5;
  })
  .map(text => text.textContent)"""


def axe_violations(page: Page, impacts: tuple[str, ...] = BLOCKING_IMPACTS) -> list[str]:
    """axe-core's violations of the page as it is now, of the given impacts, one line each
    (rule, impact, how many elements, the first element)."""
    found = AXE.run(page).response["violations"]
    return [
        f"{rule['id']} ({rule['impact']}) x{len(rule['nodes'])}: {rule['nodes'][0]['html'][:160]}"
        for rule in found
        if rule["impact"] in impacts
    ]


def assert_accessible(page: Page, name: str) -> None:
    """No serious or critical axe-core violation on the page as shown (details opened)."""
    open_every_details(page)
    assert axe_violations(page) == [], f"{name} at {viewport_width(page)}px"


def viewport_width(page: Page) -> int:
    width: int = page.evaluate("window.innerWidth")
    return width


def open_every_details(page: Page) -> None:
    """Open every `<details>` (the charts' figures as a table) so their content is checked."""
    page.evaluate("() => document.querySelectorAll('details').forEach(d => { d.open = true; })")


def assert_fits_the_screen(page: Page, name: str) -> None:
    """The page is not wider than the screen, chart labels are at least 11 px and not cut
    off, and on a phone (where tables are stacked) every cell of every table, every amount,
    is on screen from left to right."""
    open_every_details(page)
    width = viewport_width(page)
    scroll_width = page.evaluate("document.scrollingElement.scrollWidth")
    assert scroll_width <= width, f"{name}: the page is {scroll_width}px wide on a {width}px screen"
    small = [
        (label, round(size, 1)) for label, size in page.evaluate(CHART_LABEL_SIZES) if size < 11
    ]
    assert small == [], f"{name}: chart labels under 11px at {width}px"
    assert page.evaluate(CLIPPED_CHART_LABELS) == [], f"{name}: chart labels cut off at {width}px"
    if width < PHONE_WIDEST:
        outside = page.evaluate(CELLS_OUTSIDE, [BODY_CELLS, width])
        assert outside == [], f"{name}: cells (amounts) off a {width}px screen"


def check_page(page: Page, name: str) -> None:
    """The one call a browser test makes for each page it opens, at any screen size:
    axe-core finds nothing serious or critical, and the page fits the screen (above)."""
    assert_accessible(page, name)
    assert_fits_the_screen(page, name)


def sign_in_vendor(page: Page, app: PortalApp, path: str = "/vendor/margin") -> None:
    """Open a vendor page, sign in with the vendor's API key on the login form it leads to,
    and land on the page."""
    page.goto(path)
    page.get_by_label("API key", exact=True).fill(app.api.keys.api_key)
    follow(page, page.get_by_role("button", name="Sign in"))
    assert page.url == f"{app.url}{path}", page.url
