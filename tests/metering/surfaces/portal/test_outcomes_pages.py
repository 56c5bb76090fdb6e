"""The outcome pages as a signed-in customer sees them: table, filters, CSV, detail, 404s."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from html import unescape
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from metering.billing.invoices.models import LineKind
from metering.ledger.disputes.models import Dispute
from metering.platform.api.clock import request_now
from metering.surfaces.portal import outcomes
from tests.metering.billing.invoices.helpers import invoices, lines, send
from tests.metering.conftest import VendorFixture, create_customer
from tests.metering.ledger.disputes.helpers import outcome_row
from tests.metering.surfaces.portal.helpers import csrf_of, sign_in
from tests.metering.surfaces.portal.outcomes_scenario import NOW, SECRET, build, dec, talk


@pytest.fixture
def client(app: Any, engine: Engine, vendor: VendorFixture) -> Iterator[TestClient]:
    """Signed in as acme, pages as of `NOW`."""
    customer = build(engine, vendor)
    app.dependency_overrides[request_now] = lambda: NOW
    with TestClient(app) as client:
        sign_in(client, vendor.api_key, customer)
        yield client
    app.dependency_overrides.pop(request_now, None)


def text_of(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def row_ids(page: str) -> list[int]:
    return [int(found) for found in re.findall(r'href="/portal/outcomes/(\d+)"', page)]


def ids_of(engine: Engine, *event_ids: str) -> list[int]:
    found = [outcome_row(engine, event_id).id for event_id in event_ids]
    return [row_id for row_id in found if row_id is not None]


def test_the_table_shows_statuses_invoices_and_visible_properties_only(
    client: TestClient, engine: Engine
) -> None:
    page = client.get("/portal/outcomes", params={"all": "1"})

    assert page.status_code == 200
    first, second = invoices(engine)
    assert f'Billed on invoice <a href="/portal/invoices/{first.id}">#1</a>' in page.text
    assert f'Billed on invoice <a href="/portal/invoices/{second.id}">#2</a>' in page.text
    for label in ("Credited", "Disputed", "Reversed", "Voided", "Duplicate", "Billable"):
        assert f">{label}</span>" in page.text
    assert "Pending settlement" in page.text
    assert '<th scope="col">Channel</th>' in page.text and ">Topic</th>" in page.text
    assert '<td data-label="Topic">billing</td>' in page.text
    assert SECRET not in page.text and "Note" not in page.text
    assert len(row_ids(page.text)) == 13


def test_duplicates_are_hidden_by_default_behind_a_toggle_with_their_count(
    client: TestClient, engine: Engine
) -> None:
    page = client.get("/portal/outcomes")
    assert ">Duplicate</span>" not in page.text
    assert len(row_ids(page.text)) == 12
    text = text_of(page.text)
    assert "12 outcomes." in text
    assert "1 duplicate or superseded outcome hidden (they add nothing to your bill)" in text
    assert 'id="show-repeats" href="/portal/outcomes?all=1"' in page.text
    shown = client.get("/portal/outcomes", params={"all": "1"})
    assert ">Duplicate</span>" in shown.text and "13 outcomes." in text_of(shown.text)
    assert 'id="hide-repeats"' in shown.text
    asked = client.get("/portal/outcomes", params={"status": "duplicate"})
    assert row_ids(asked.text) == ids_of(engine, "d-dup")


def test_filters_narrow_the_table(client: TestClient, engine: Engine) -> None:
    billed = client.get("/portal/outcomes", params={"status": "billed"})
    assert sorted(row_ids(billed.text)) == sorted(ids_of(engine, "r0", "r3", "n1"))
    assert '<option value="billed" selected>' in billed.text

    by_type = client.get("/portal/outcomes", params={"outcome": "pipeline_value"})
    assert row_ids(by_type.text) == ids_of(engine, "deal")

    days = client.get(
        "/portal/outcomes", params={"from": "2026-12-02", "to": "2026-12-03", "all": "1"}
    )
    assert row_ids(days.text) == ids_of(engine, "d-dup", "d-billable")

    searched = client.get("/portal/outcomes", params={"q": "c2", "all": "1"})
    assert sorted(row_ids(searched.text)) == sorted(
        ids_of(engine, "r2", "d-billable", "d-dup", "d-reversed", "d-void", "d-disputed")
        + ids_of(engine, "d-credited", "d-pending")
    )
    periods = client.get("/portal/outcomes", params={"period": "2026-11-01T00:00:00+00:00"})
    assert row_ids(periods.text) == ids_of(engine, "n1")


def test_a_bad_filter_value_is_a_page_saying_so(client: TestClient) -> None:
    bad_date = client.get("/portal/outcomes", params={"from": "30/11/2026"})
    assert bad_date.status_code == 400 and "write it as 2026-11-30" in bad_date.text
    assert client.get("/portal/outcomes", params={"status": "lost"}).status_code == 400
    bad_cursor = client.get("/portal/outcomes", params={"cursor": "xyz"})
    assert bad_cursor.status_code == 400 and "first page" in bad_cursor.text


def test_pages_link_to_the_next_with_the_same_filters(
    client: TestClient, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outcomes, "PAGE_SIZE", 2)
    first = client.get("/portal/outcomes", params={"outcome": "resolved_conversation"})
    found = re.search(r'href="/portal/outcomes\?([^"]+)" rel="next"', first.text)
    assert found is not None
    query = found.group(1).replace("&amp;", "&")
    assert "outcome=resolved_conversation" in query
    second = client.get(f"/portal/outcomes?{query}")
    assert row_ids(first.text) == ids_of(engine, "d-pending", "d-credited")
    assert row_ids(second.text) == ids_of(engine, "d-disputed", "d-void")
    assert "First page" in second.text
    back = re.search(r'href="/portal/outcomes\?([^"]+)" rel="prev"', second.text)
    assert back is not None and "outcome=resolved_conversation" in back.group(1)
    previous = client.get(f"/portal/outcomes?{back.group(1).replace('&amp;', '&')}")
    assert row_ids(previous.text) == row_ids(first.text)
    assert 'rel="prev"' not in previous.text and 'rel="next"' in previous.text
    assert 'rel="prev"' not in first.text


def test_the_period_filter_lists_every_period_with_outcomes_labelled(
    client: TestClient, engine: Engine, vendor: VendorFixture
) -> None:
    page = client.get("/portal/outcomes")
    options = re.findall(r'<option value="(2026-[^"]+)"[^>]*>([^<]+)</option>', page.text)
    labels = [unescape(label).replace("\u2009", " ") for _, label in options]
    assert labels == [
        "Dec 1 \u2013 31, 2026 (current)",
        "Nov 1 \u2013 30, 2026 (invoice #2)",
        "Oct 1 \u2013 31, 2026 (invoice #1)",
    ]
    # In January, December has ended and is not invoiced yet: it is listed, so labelled.
    january = client.app.dependency_overrides  # type: ignore[attr-defined]
    january[request_now] = lambda: datetime(2027, 1, 2, tzinfo=UTC)
    later = client.get("/portal/outcomes")
    options = re.findall(r'<option value="(2026-[^"]+)"[^>]*>([^<]+)</option>', later.text)
    assert unescape(options[0][1]).replace("\u2009", " ") == (
        "Dec 1 \u2013 31, 2026 (ended, not invoiced yet)"
    )
    december = client.get("/portal/outcomes", params={"period": options[0][0]})
    assert ids_of(engine, "d-billable")[0] in row_ids(december.text)


def test_the_search_example_is_one_of_the_customers_keys(client: TestClient) -> None:
    page = client.get("/portal/outcomes")
    assert 'placeholder="e.g. c25"' in page.text  # the latest outcome's key


def test_the_csv_export_has_every_filtered_row_and_visible_columns_only(
    client: TestClient, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outcomes, "EXPORT_CHUNK", 2)  # several chunks streamed
    export = client.get("/portal/outcomes.csv", params={"outcome": "resolved_conversation"})

    assert export.status_code == 200
    assert export.headers["content-type"].startswith("text/csv")
    assert 'filename="outcomes-acme-20261210.csv"' in export.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(export.text)))
    assert rows[0] == [
        "Time (UTC)",
        "Outcome",
        "Status",
        "Invoice",
        "Counted once per",
        "Adds to your bill",
        "Currency",
        "Channel",
        "Topic",
    ]
    assert len(rows) == 1 + 11  # the duplicate is left out, as on the page
    oldest = ["2026-10-01T12:00:00Z", "Resolved conversation", "Billed", "1", "c0", "0.00", "USD"]
    assert rows[-1] == [*oldest, "chat", "billing"]  # the first of October's 2 free ones
    assert {row[2] for row in rows[1:]} == {
        "Billed",
        "Credited",
        "Billable",
        "Pending settlement",
        "Reversed",
        "Voided",
        "Disputed",
    }
    by_key = {row[4]: row[5] for row in rows[1:]}
    # December: c20 the first counted (free), c23 second (free, disputed, still counted),
    # c25 pending (the third: 0.99); reversed, voided and credited add nothing.
    assert (by_key["c20"], by_key["c23"], by_key["c25"]) == ("0.00", "0.00", "0.99")
    assert (by_key["c21"], by_key["c22"], by_key["c24"]) == ("0.00", "0.00", "0.00")
    every = client.get(
        "/portal/outcomes.csv", params={"outcome": "resolved_conversation", "all": "1"}
    )
    assert len(list(csv.reader(io.StringIO(every.text)))) == 1 + 12
    assert SECRET not in export.text

    billed = client.get("/portal/outcomes.csv", params={"status": "billed"})
    assert [row[4] for row in list(csv.reader(io.StringIO(billed.text)))[1:]] == [
        "c10",
        "c3",
        "c0",
    ]


def test_the_outcomes_behind_an_invoice_line(client: TestClient, engine: Engine) -> None:
    first, _ = invoices(engine)
    [line] = [x for x in lines(engine, first.id) if x.outcome == "resolved_conversation"]
    assert line.kind == LineKind.CHARGE
    page = client.get("/portal/outcomes", params={"invoice": first.id, "line": line.id})
    assert row_ids(page.text) == ids_of(engine, "r3", "r2", "r1", "r0")
    assert f'href="/portal/invoices/{first.id}">Back to invoice #1' in page.text
    heading = "4 outcomes behind the line \u201cResolved conversation\u201d of invoice #1"
    assert heading in text_of(page.text)
    # Each names the invoice it is on and what it adds now: r1 and r2 were credited since
    # (reopened, disputed), so r0 and r3 are the period's 2 free ones and nothing is added.
    first, second = invoices(engine)
    assert page.text.count(f'<a href="/portal/invoices/{first.id}">invoice #1</a>') == 2
    assert page.text.count(f'<a href="/portal/invoices/{second.id}">invoice #2</a>') == 2
    added = re.findall(r'data-label="Adds to your bill" data-amount="([^"]+)"', page.text)
    assert [Decimal(a) for a in added] == [0, 0, 0, 0]


def test_another_customers_outcomes_and_lines_are_404(
    client: TestClient, engine: Engine, vendor: VendorFixture
) -> None:
    globex = create_customer(engine, vendor.id, "globex")
    row_id = outcome_row(engine, "r0").id
    first, _ = invoices(engine)
    with TestClient(client.app) as stranger:
        sign_in(stranger, vendor.api_key, globex)
        assert stranger.get(f"/portal/outcomes/{row_id}").status_code == 404
        assert stranger.get("/portal/outcomes", params={"invoice": first.id}).status_code == 404
        assert stranger.get("/portal/outcomes.csv", params={"invoice": first.id}).status_code == 404
        token = csrf_of(stranger.get("/portal").text)
        refused = stranger.post(
            f"/portal/outcomes/{row_id}/dispute", data={"reason": "x", "csrf_token": token}
        )
        assert refused.status_code == 404
        assert row_ids(stranger.get("/portal/outcomes").text) == []


def test_the_detail_page_shows_the_outcome_and_a_dispute_form_when_disputable(
    client: TestClient, engine: Engine
) -> None:
    billed = client.get(f"/portal/outcomes/{outcome_row(engine, 'r0').id}")
    assert billed.status_code == 200
    assert "Dispute this outcome" in billed.text and 'name="csrf_token"' in billed.text
    assert "<dd>billing</dd>" in billed.text and SECRET not in billed.text

    settled = text_of(billed.text)
    assert "Settled Oct 2, 2026, 12:00 PM UTC" in settled
    assert "Adds to your bill $0.00 Invoice invoice #1" in settled  # one of October's free
    pending = text_of(client.get(f"/portal/outcomes/{outcome_row(engine, 'd-pending').id}").text)
    assert "Settles Dec 11, 2026, 11:00 AM UTC" in pending
    assert (
        "Adds to your bill $0.99 Invoice the invoice of Dec 1 \u2013 31, 2026"
        in pending.replace("\u2009", " ")
    )
    assert "issued Jan 4, 2027" in pending
    duplicate = text_of(client.get(f"/portal/outcomes/{outcome_row(engine, 'd-dup').id}").text)
    assert "Adds to your bill $0.00 Invoice not billed" in duplicate

    for event_id in ("d-disputed", "d-credited", "d-dup", "r1"):
        page = client.get(f"/portal/outcomes/{outcome_row(engine, event_id).id}")
        assert page.status_code == 200
        assert "Dispute this outcome" not in page.text, event_id
    assert client.get("/portal/outcomes/999999").status_code == 404


def test_a_dispute_without_the_sessions_csrf_token_is_refused(
    client: TestClient, engine: Engine
) -> None:
    row_id = outcome_row(engine, "d-billable").id
    for data in ({"reason": "Not resolved"}, {"reason": "Not resolved", "csrf_token": "forged"}):
        refused = client.post(f"/portal/outcomes/{row_id}/dispute", data=data)
        assert refused.status_code == 403
    with Session(engine) as session:
        filed = session.exec(select(Dispute).where(Dispute.outcome_id == row_id)).all()
    assert filed == []


def test_a_late_event_after_the_page_is_listed_first(
    client: TestClient, engine: Engine, vendor: VendorFixture
) -> None:
    send(engine, vendor.id, [talk("d-late", dec(10, 11), "c99")], NOW)
    page = client.get("/portal/outcomes")
    assert row_ids(page.text)[:2] == ids_of(engine, "d-late", "d-pending")
