"""The outcome list's query service: statuses, filters, visible properties, paging."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.billing.invoices.models import LineKind
from metering.ledger.states import DisplayStatus
from metering.surfaces.portal import outcomes
from metering.surfaces.portal.outcomes import OutcomeFilter
from tests.metering.billing.invoices.helpers import invoices, lines
from tests.metering.conftest import VendorFixture, create_customer
from tests.metering.ledger.disputes.helpers import outcome_row
from tests.metering.surfaces.portal.outcomes_scenario import EXPECTED, NOW, SECRET, build, dec


@pytest.fixture
def acme(engine: Engine, vendor: VendorFixture) -> str:
    return build(engine, vendor)


def listed(engine: Engine, customer: str, flt: OutcomeFilter, limit: int = 100) -> list[str]:
    """Event ids of the rows listed, newest first."""
    with Session(engine) as session:
        return [
            row.event_id for row in outcomes.page(session, customer, flt, NOW, None, limit).rows
        ]


def test_every_status_is_labelled_as_the_customer_reads_it(engine: Engine, acme: str) -> None:
    with Session(engine) as session:
        page = outcomes.page(session, acme, OutcomeFilter(), NOW)
    assert {row.event_id: row.label for row in page.rows} == EXPECTED
    billed = {row.event_id: row.invoice for row in page.rows if row.invoice}
    first, second = invoices(engine)
    assert billed["r0"] is not None and billed["r0"].id == first.id
    assert billed["n1"] is not None and billed["n1"].id == second.id
    # Newest first, as the table lists them.
    assert [row.occurred_at for row in page.rows] == sorted(
        (row.occurred_at for row in page.rows), reverse=True
    )


def test_only_the_paths_the_rule_file_shows_are_read_from_the_event(
    engine: Engine, acme: str
) -> None:
    with Session(engine) as session:
        page = outcomes.page(session, acme, OutcomeFilter(), NOW)
    assert page.columns == ["properties.channel", "properties.topic"]
    by_event = {row.event_id: row.properties for row in page.rows}
    assert by_event["d-billable"] == {"properties.channel": "chat", "properties.topic": "billing"}
    assert by_event["deal"] == {}  # pipeline_value shows nothing
    assert SECRET not in repr(page)
    assert "conversation_id" not in repr([row.properties for row in page.rows])


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (DisplayStatus.BILLED, {"r0", "r3", "n1"}),
        (DisplayStatus.CREDITED, {"r1", "r2", "d-credited"}),
        (DisplayStatus.BILLABLE, {"d-billable", "deal"}),
        (DisplayStatus.PENDING, {"d-pending"}),
        (DisplayStatus.DUPLICATE, {"d-dup"}),
        (DisplayStatus.REVERSED, {"d-reversed"}),
        (DisplayStatus.VOIDED, {"d-void"}),
        (DisplayStatus.DISPUTED, {"d-disputed"}),
        (DisplayStatus.PROBLEM, set()),
    ],
)
def test_the_status_filter_keeps_the_rows_labelled_so(
    engine: Engine, acme: str, status: DisplayStatus, expected: set[str]
) -> None:
    assert set(listed(engine, acme, OutcomeFilter(status=status))) == expected


def test_type_range_and_search_filters(engine: Engine, acme: str) -> None:
    assert listed(engine, acme, OutcomeFilter(outcome="pipeline_value")) == ["deal"]
    december = OutcomeFilter(since=dec(1, 0), until=dec(6, 0))
    assert listed(engine, acme, december) == ["d-void", "d-reversed", "d-dup", "d-billable"]
    # Search matches the dedupe key or the event id, in part, whatever the case.
    assert set(listed(engine, acme, OutcomeFilter(search="C20"))) == {"d-billable", "d-dup"}
    assert listed(engine, acme, OutcomeFilter(search="pend")) == ["d-pending"]
    assert listed(engine, acme, OutcomeFilter(search="100%")) == []
    both = OutcomeFilter(outcome="resolved_conversation", status=DisplayStatus.BILLABLE)
    assert listed(engine, acme, both) == ["d-billable"]


def test_an_invoice_line_lists_the_outcomes_behind_it(engine: Engine, acme: str) -> None:
    first, second = invoices(engine)
    [charge] = [line for line in lines(engine, first.id) if line.outcome == "resolved_conversation"]
    [credit] = [
        line
        for line in lines(engine, second.id)
        if line.kind == LineKind.CREDIT and line.outcome is not None
    ]
    behind = OutcomeFilter(invoice_id=first.id, line_id=charge.id)
    assert listed(engine, acme, behind) == ["r3", "r2", "r1", "r0"]
    assert set(listed(engine, acme, OutcomeFilter(line_id=credit.id))) == {"r1", "r2"}
    assert set(listed(engine, acme, OutcomeFilter(invoice_id=second.id))) == {"n1", "r1", "r2"}


def test_another_customers_outcome_or_line_is_unknown(
    engine: Engine, vendor: VendorFixture, acme: str
) -> None:
    other = create_customer(engine, vendor.id, "globex")
    [first, _] = invoices(engine)
    row_id = outcome_row(engine, "r0").id
    assert row_id is not None
    with Session(engine) as session:
        with pytest.raises(outcomes.UnknownLine):
            outcomes.page(session, other, OutcomeFilter(invoice_id=first.id), NOW)
        assert outcomes.one(session, other, row_id, NOW) is None
        mine = outcomes.one(session, acme, row_id, NOW)
        assert mine is not None and mine.label == "Billed on invoice #1"


def test_pages_follow_each_other_without_gaps_or_repeats(engine: Engine, acme: str) -> None:
    seen: list[str] = []
    cursor = None
    sizes = []
    with Session(engine) as session:
        while True:
            page = outcomes.page(session, acme, OutcomeFilter(), NOW, cursor, limit=5)
            seen += [row.event_id for row in page.rows]
            sizes.append(len(page.rows))
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        with pytest.raises(outcomes.BadCursor):
            outcomes.page(session, acme, OutcomeFilter(), NOW, "not-a-cursor")
    assert sizes == [5, 5, 3]
    assert seen == listed(engine, acme, OutcomeFilter())


def test_the_export_walks_every_matching_row_in_chunks(engine: Engine, acme: str) -> None:
    with Session(engine) as session:
        chunks = list(outcomes.every_row(session, acme, OutcomeFilter(), NOW, chunk=4))
    assert [len(chunk) for chunk in chunks] == [4, 4, 4, 1]
    assert [row.event_id for chunk in chunks for row in chunk] == listed(
        engine, acme, OutcomeFilter()
    )
