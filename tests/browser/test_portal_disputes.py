"""Disputes end to end, in Chromium and through the vendor API: the customer disputes an
outcome from its page, the vendor accepts it, the customer sees it accepted and the outcome
credited, and the money follows (left off this period, or a credit line naming the invoice
for a billed one). Each test makes its own customer, so the others' figures never move.
Each page is saved as a full-page PNG in the artifacts folder (see conftest)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from playwright.sync_api import Page

from tests.browser.conftest import PortalApp, Shot
from tests.browser.pages import (
    apply_filters,
    counted_outcomes,
    follow,
    go_to,
    heading,
    money,
    shown_outcomes,
    sign_in,
    table_rows,
)
from tests.browser.seed import invoiced_customer, this_month_events

REASON = "The customer wrote again the next day: it was not resolved."
ANSWER = "Agreed, credited."


def facts(page: Page) -> dict[str, str]:
    terms = page.locator("dl.facts dt").all_inner_texts()
    return dict(zip(terms, page.locator("dl.facts dd").all_inner_texts(), strict=True))


def dispute_from_the_outcome_page(page: Page, key: str, shot: Shot) -> None:
    """Find the outcome counted once per `key`, open it and send the dispute form."""
    go_to(page, "Outcomes")
    apply_filters(page, **{"Search key or event id": key})
    assert [row["Counted once per"] for row in shown_outcomes(page)] == [key]
    follow(page, page.get_by_role("table", name="Outcomes").get_by_role("link", name="Details"))
    assert facts(page)["Counted once per"] == key
    page.get_by_label("Reason").fill(REASON)
    shot(page, "outcome-before")
    follow(page, page.get_by_role("button", name="Send dispute"))
    assert heading(page) == "Disputes"
    assert page.get_by_role("status").inner_text().startswith("Your dispute was sent")
    shot(page, "filed")


def dispute_rows(page: Page) -> list[dict[str, str]]:
    table = page.get_by_role("table", name="Disputes")
    titles = [title.strip() for title in table.locator("thead th").all_inner_texts()]
    return [
        dict(
            zip(titles, (cell.strip() for cell in row.locator("td").all_inner_texts()), strict=True)
        )
        for row in table.locator("tbody tr").all()
    ]


def accept(portal_app: PortalApp, customer_id: str, key: str) -> dict[str, Any]:
    """The vendor finds the customer's open dispute in its list and accepts it."""
    (dispute,) = [d for d in portal_app.api.disputes("open") if d["customer_id"] == customer_id]
    assert (dispute["dedupe_key"], dispute["reason"]) == (key, REASON)
    accepted: dict[str, Any] = portal_app.api.call(
        "POST", f"/v1/disputes/{dispute['id']}/accept", json={"note": ANSWER}
    )
    assert accepted["status"] == "accepted"
    return accepted


def see_it_accepted_and_credited(page: Page, key: str, shot: Shot) -> None:
    go_to(page, "Disputes")
    (row,) = dispute_rows(page)
    assert (row["Counted once per"], row["Reason"], row["Status"]) == (key, REASON, "Accepted")
    assert row["Vendor's answer"].startswith(ANSWER)
    shot(page, "accepted")
    follow(page, page.get_by_role("table", name="Disputes").get_by_role("link").first)
    shown = facts(page)
    assert (shown["Counted once per"], shown["Status"]) == (key, "Credited")
    assert "Accepted" in page.locator("#disputes ~ ul").inner_text()
    assert page.get_by_label("Reason").count() == 0
    shot(page, "outcome-credited")


def test_an_accepted_dispute_takes_the_outcome_off_this_period(
    page: Page, portal_app: PortalApp, shot: Shot
) -> None:
    api, months = portal_app.api, portal_app.seeded.months
    external_id = f"dispute-open-{uuid.uuid4().hex[:8]}"
    customer = api.new_customer(external_id, "Initech", months.this.start)
    api.send(this_month_events(external_id, months))
    before = api.upcoming(customer)
    sign_in(page, portal_app, customer)

    dispute_from_the_outcome_page(page, "c-16", shot)
    (row,) = dispute_rows(page)
    assert (row["Counted once per"], row["Status"]) == ("c-16", "Open")
    assert row["Vendor's answer"] == "Waiting for an answer"
    accept(portal_app, customer, "c-16")

    see_it_accepted_and_credited(page, "c-16", shot)
    after = api.upcoming(customer)
    assert counted_outcomes(after) == counted_outcomes(before) - 1
    go_to(page, "Overview")
    assert money(page.locator("#projected-total").inner_text()) == Decimal(after["total"])
    shot(page, "overview")


def test_an_accepted_dispute_on_a_billed_outcome_is_a_credit_on_the_next_invoice(
    page: Page, portal_app: PortalApp, shot: Shot
) -> None:
    api, months = portal_app.api, portal_app.seeded.months
    external_id = f"dispute-billed-{uuid.uuid4().hex[:8]}"
    customer = invoiced_customer(
        api, portal_app.engine, months, external_id, "Initech", more_last_month=3
    )
    (invoice,) = api.invoices(customer)
    assert api.upcoming(customer)["corrections"] == []
    sign_in(page, portal_app, customer)

    dispute_from_the_outcome_page(page, "c-4", shot)
    accept(portal_app, customer, "c-4")
    see_it_accepted_and_credited(page, "c-4", shot)

    upcoming = api.upcoming(customer)
    (credit,) = upcoming["corrections"]
    assert (credit["kind"], credit["corrects_invoice_id"]) == ("credit", invoice["id"])
    assert credit["amount"] == "-0.99"  # 7 conversations (1 free) were billed, 6 remain
    go_to(page, "Overview")
    projected = page.get_by_role("table", name="Projected invoice")
    lines = upcoming["lines"] + upcoming["corrections"]
    assert [(label, money(amount)) for label, amount in table_rows(projected)] == [
        (line["description"], Decimal(line["amount"])) for line in lines
    ]
    assert money(page.locator("#projected-total").inner_text()) == Decimal(upcoming["total"])
    shot(page, "overview")


def test_a_dispute_form_with_a_forged_csrf_token_is_refused(
    page: Page, portal_app: PortalApp, shot: Shot
) -> None:
    api, months = portal_app.api, portal_app.seeded.months
    external_id = f"dispute-csrf-{uuid.uuid4().hex[:8]}"
    customer = api.new_customer(external_id, "Initech", months.this.start)
    api.send(this_month_events(external_id, months))
    sign_in(page, portal_app, customer)
    page.goto("/portal/outcomes?q=c-16")
    follow(page, page.get_by_role("table", name="Outcomes").get_by_role("link", name="Details"))
    page.get_by_label("Reason").fill(REASON)
    page.locator("form[action$='/dispute'] input[name=csrf_token]").evaluate(
        "field => { field.value = 'forged'; }"
    )
    follow(page, page.get_by_role("button", name="Send dispute"))
    assert heading(page) == "This form has expired"
    shot(page, "refused")
    assert [d for d in api.disputes() if d["customer_id"] == customer] == []


def test_a_rejected_dispute_shows_the_vendors_note_and_the_outcome_stays_billed(
    page: Page, portal_app: PortalApp, shot: Shot
) -> None:
    api, months = portal_app.api, portal_app.seeded.months
    external_id = f"dispute-rejected-{uuid.uuid4().hex[:8]}"
    customer = invoiced_customer(api, portal_app.engine, months, external_id, "Initech", sent=0)
    (invoice,) = api.invoices(customer)
    sign_in(page, portal_app, customer)
    dispute_from_the_outcome_page(page, "c-6", shot)
    (dispute,) = [d for d in api.disputes("open") if d["customer_id"] == customer]
    note = "Resolved by the AI on Oct 4; the reopening came from another ticket."
    rejected = api.call("POST", f"/v1/disputes/{dispute['id']}/reject", json={"note": note})
    assert rejected["status"] == "rejected"

    go_to(page, "Disputes")
    (row,) = dispute_rows(page)
    assert (row["Counted once per"], row["Status"]) == ("c-6", "Rejected")
    assert row["Vendor's answer"].startswith(note)
    shot(page, "rejected")
    follow(page, page.get_by_role("table", name="Disputes").get_by_role("link").first)
    assert facts(page)["Status"] == f"Billed on invoice #{invoice['number']}"
    assert page.get_by_label("Reason").is_visible()  # it can be disputed again
    assert api.upcoming(customer)["corrections"] == []
    shot(page, "outcome")


def test_an_open_dispute_shows_its_stake_and_can_be_withdrawn(
    page: Page, portal_app: PortalApp, shot: Shot
) -> None:
    api, months = portal_app.api, portal_app.seeded.months
    external_id = f"dispute-withdraw-{uuid.uuid4().hex[:8]}"
    customer = api.new_customer(external_id, "Initech", months.this.start)
    api.send(this_month_events(external_id, months))
    before = api.upcoming(customer)
    sign_in(page, portal_app, customer)

    dispute_from_the_outcome_page(page, "c-16", shot)
    (row,) = dispute_rows(page)
    assert row["Status"] == "Open"
    assert row["At stake"].startswith("$")  # what the outcome adds to the bill now
    go_to(page, "Outcomes")
    apply_filters(page, **{"Search key or event id": "c-16"})
    (listed,) = shown_outcomes(page)
    assert row["At stake"] == listed["Adds to your bill"]
    go_to(page, "Disputes")
    follow(
        page, page.get_by_role("button", name="Withdraw the dispute on resolved conversation c-16")
    )
    assert page.get_by_role("status").inner_text().startswith("Your dispute was withdrawn")
    (row,) = dispute_rows(page)
    assert row["Status"] == "Withdrawn" and row["Action"] == "closed"
    assert row["Vendor's answer"].startswith("Withdrawn by you")
    assert page.get_by_role("button", name="Withdraw").count() == 0
    shot(page, "withdrawn")
    assert api.upcoming(customer)["total"] == before["total"]  # the outcome stays billed
