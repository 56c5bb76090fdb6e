"""The outcome list in Chromium: every outcome with the status the customer reads, what the
filter form leaves, the CSV the export link downloads, one outcome's page, and that only the
rule file's portal.show properties ever reach the customer. Each page is saved as a
full-page PNG in the artifacts folder (see conftest)."""

from __future__ import annotations

import csv
import io
import uuid
from collections import Counter
from datetime import timedelta

from playwright.sync_api import Page

from tests.browser.conftest import PortalApp, Shot
from tests.browser.pages import Row, apply_filters, follow, go_to, heading, shown_outcomes, sign_in
from tests.browser.seed import SECRET_NOTE, Months, pending_now, resolved


def statuses(rows: list[Row]) -> Counter[tuple[str, str]]:
    return Counter((row["Counted once per"], row["Status"]) for row in rows)


def this_month(months: Months, hours: int) -> str:
    """What an outcome resolved `hours` into this month reads now (the seed's b events)."""
    return "Pending settlement" if pending_now(months, hours) else "Billable"


def expected(months: Months) -> Counter[tuple[str, str]]:
    """acme's outcomes as seeded: last month billed on invoice #1, this month's as of now."""
    billed = "Billed on invoice #1"
    return Counter(
        {
            ("c-1", billed): 1,
            ("c-2", billed): 1,
            ("c-2", "Duplicate"): 1,
            ("c-3", "Reversed"): 1,
            ("c-4", billed): 1,
            ("c-6", billed): 1,
            ("c-11", this_month(months, 1)): 1,
            ("c-12", this_month(months, 2)): 1,
            ("c-13", "Reversed"): 1,
            ("c-12", "Duplicate"): 1,
            ("c-14", "Pending settlement"): 1,
            ("c-15", "Pending settlement"): 1,
            ("c-16", this_month(months, 6)): 1,
            ("c-17", this_month(months, 7)): 1,
            ("c-18", this_month(months, 8)): 1,
        }
    )


def without_repeats(counts: Counter[tuple[str, str]]) -> Counter[tuple[str, str]]:
    """What the list shows by default: duplicates are hidden behind a toggle."""
    return Counter({key: n for key, n in counts.items() if key[1] != "Duplicate"})


def open_outcomes(page: Page, portal_app: PortalApp) -> None:
    sign_in(page, portal_app, portal_app.seeded.acme)
    go_to(page, "Outcomes")
    assert heading(page) == "Outcomes"


def test_the_list_shows_every_outcome_and_the_filters_narrow_it(
    page: Page, portal_app: PortalApp, shot: Shot
) -> None:
    months = portal_app.seeded.months
    open_outcomes(page, portal_app)
    listed = shown_outcomes(page)
    assert statuses(listed) == without_repeats(expected(months))
    count = page.locator("#outcome-count").inner_text()
    assert f"{len(listed)} outcomes." in count
    assert "2 duplicate or superseded outcomes hidden" in count
    follow(page, page.get_by_role("link", name="show them"))
    everything = shown_outcomes(page)
    assert statuses(everything) == expected(months)
    c4 = next(row for row in everything if row["Counted once per"] == "c-4")
    assert (c4["Outcome"], c4["Channel"], c4["Topic"]) == (
        "Resolved conversations",  # the rule file's name for its charge
        "chat",
        "refunds",
    )
    # What each adds to the bill, in dollars: nothing for a duplicate or a reversed one.
    for row in everything:
        assert row["Adds to your bill"].startswith("$"), row
        if row["Status"] in ("Duplicate", "Reversed"):
            assert row["Adds to your bill"] == "$0.00" and row["Invoice"] == "not billed"
    assert c4["Invoice"] == "invoice #1"
    assert SECRET_NOTE not in page.content()
    shot(page, "all")

    apply_filters(page, Status="Reversed")
    assert "status=reversed" in page.url
    assert statuses(shown_outcomes(page)) == Counter(
        {("c-3", "Reversed"): 1, ("c-13", "Reversed"): 1}
    )
    shot(page, "reversed")

    apply_filters(page, Status="Billed")
    billed = shown_outcomes(page)
    assert statuses(billed) == Counter(
        {(f"c-{n}", "Billed on invoice #1"): 1 for n in (1, 2, 4, 6)}
    )
    (invoice,) = portal_app.api.invoices(portal_app.seeded.acme)
    table = page.get_by_role("table", name="Outcomes")
    assert {link.get_attribute("href") for link in table.get_by_role("link", name="#1").all()} == {
        f"/portal/invoices/{invoice['id']}"
    }
    shot(page, "billed")

    apply_filters(page, Status="All statuses", **{"Search key or event id": "c-12"})
    assert statuses(shown_outcomes(page)) == Counter(
        {("c-12", this_month(months, 2)): 1, ("c-12", "Duplicate"): 1}
    )  # duplicates are still shown: the toggle is kept with the filters
    shot(page, "search")

    apply_filters(page, **{"Search key or event id": "", "Status": "Pending settlement"})
    pending = {row["Counted once per"] for row in shown_outcomes(page)}
    assert {"c-14", "c-15"} <= pending
    assert pending <= {"c-14", "c-15", "c-11", "c-12", "c-16", "c-17", "c-18"}
    shot(page, "pending")


def test_the_export_downloads_the_filtered_list_as_csv(
    page: Page, portal_app: PortalApp, shot: Shot
) -> None:
    open_outcomes(page, portal_app)
    apply_filters(page, Status="Billed")
    shot(page, "billed")
    with page.expect_download() as started:
        page.get_by_role("link", name="Export CSV").click()
    download = started.value
    assert download.suggested_filename.startswith("outcomes-acme-")
    assert download.suggested_filename.endswith(".csv")
    text = download.path().read_text(encoding="utf-8")
    assert SECRET_NOTE not in text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0].keys() == {
        "Time (UTC)",
        "Outcome",
        "Status",
        "Invoice",
        "Counted once per",
        "Adds to your bill",
        "Currency",
        "Channel",
        "Topic",
    }
    assert sorted(
        (row["Counted once per"], row["Status"], row["Invoice"], row["Channel"]) for row in rows
    ) == [
        ("c-1", "Billed", "1", "chat"),
        ("c-2", "Billed", "1", "email"),
        ("c-4", "Billed", "1", "chat"),
        ("c-6", "Billed", "1", "email"),
    ]
    assert all(row["Outcome"] == "Resolved conversations" for row in rows)
    assert all(row["Currency"] == "USD" for row in rows)
    table = {r["Counted once per"]: r["Adds to your bill"] for r in shown_outcomes(page)}
    assert {row["Counted once per"]: f"${row['Adds to your bill']}" for row in rows} == table


def test_the_whole_list_exports_every_row(page: Page, portal_app: PortalApp) -> None:
    open_outcomes(page, portal_app)
    with page.expect_download() as started:
        page.get_by_role("link", name="Export CSV").click()
    with open(started.value.path(), encoding="utf-8") as exported:
        rows = list(csv.DictReader(exported))
    assert len(rows) == sum(without_repeats(expected(portal_app.seeded.months)).values())
    follow(page, page.get_by_role("link", name="show them"))
    with page.expect_download() as started:
        page.get_by_role("link", name="Export CSV").click()
    with open(started.value.path(), encoding="utf-8") as exported:
        rows = list(csv.DictReader(exported))
    assert len(rows) == sum(expected(portal_app.seeded.months).values())
    assert Counter(row["Status"] for row in rows)["Duplicate"] == 2


def test_an_outcome_page_shows_its_facts(page: Page, portal_app: PortalApp, shot: Shot) -> None:
    open_outcomes(page, portal_app)
    apply_filters(page, **{"Search key or event id": "c-4"})
    follow(page, page.get_by_role("table", name="Outcomes").get_by_role("link", name="Details"))
    assert heading(page).startswith("Resolved conversations")
    facts = dict(
        zip(
            page.locator("dl.facts dt").all_inner_texts(),
            page.locator("dl.facts dd").all_inner_texts(),
            strict=True,
        )
    )
    assert facts["Status"] == "Billed on invoice #1"
    assert facts["Counted once per"] == "c-4"
    assert facts["Settled"].endswith("UTC")  # past tense: it settled last month
    assert facts["Adds to your bill"].startswith("$") and facts["Invoice"] == "invoice #1"
    assert facts["Event"] == "acme-a4"
    assert (facts["Channel"], facts["Topic"]) == ("chat", "refunds")
    assert SECRET_NOTE not in page.content()
    assert page.get_by_label("Reason").is_visible()
    shot(page, "detail")


def test_a_long_list_is_paged(page: Page, portal_app: PortalApp, shot: Shot) -> None:
    """60 outcomes: 50 on the first page, the 10 older ones on the next, none twice."""
    api, months = portal_app.api, portal_app.seeded.months
    external_id = f"paged-{uuid.uuid4().hex[:8]}"
    customer = api.new_customer(external_id, "Umbrella", months.last.start)
    api.send(
        [
            resolved(
                external_id,
                f"p{n}",
                months.in_last(1) + timedelta(minutes=n),
                f"k-{n}",
                "chat",
                "sales",
            )
            for n in range(60)
        ]
    )
    sign_in(page, portal_app, customer)
    go_to(page, "Outcomes")
    first = [row["Counted once per"] for row in shown_outcomes(page)]
    assert first == [f"k-{n}" for n in range(59, 9, -1)]
    shot(page, "first")
    follow(page, page.get_by_role("navigation", name="Pages").get_by_role("link", name="Next page"))
    second = [row["Counted once per"] for row in shown_outcomes(page)]
    assert second == [f"k-{n}" for n in range(9, -1, -1)]
    assert page.get_by_role("link", name="Next page").count() == 0
    shot(page, "second")
    follow(
        page, page.get_by_role("navigation", name="Pages").get_by_role("link", name="Previous page")
    )
    assert [row["Counted once per"] for row in shown_outcomes(page)] == first
    assert page.get_by_role("link", name="Previous page").count() == 0
