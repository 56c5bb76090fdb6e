"""Reading and working the portal's pages the way a customer does: by role, label and text.

Amounts are read as shown and parsed back in the customer's locale, so a comparison with
the API is to the cent and also checks the formatting.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import TYPE_CHECKING, Any

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
