"""The portal names what superseded an outcome, shows the evidence of its confirmation, and
lists awaiting, unverified and rejected outcomes by their status (the example plan)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.ledger.states import DisplayStatus
from metering.platform.api.clock import request_now
from metering.surfaces.portal import outcomes
from metering.surfaces.portal.outcomes import OutcomeFilter
from tests.metering.billing.invoices.helpers import send
from tests.metering.conftest import VendorFixture, create_customer, create_plan
from tests.metering.ledger.disputes.helpers import outcome_row
from tests.metering.surfaces.portal.helpers import sign_in

EXAMPLES = Path(__file__).parents[4] / "pricing_rules" / "examples"
NOVEMBER = datetime(2026, 11, 1, tzinfo=UTC)


def test_superseded_evidence_and_verification_statuses(
    engine: Engine, vendor: VendorFixture
) -> None:
    plan = create_plan(engine, vendor.id, (EXAMPLES / "support-outcomes.yaml").read_text())
    customer = create_customer(engine, vendor.id, "acme", plan, starts_at=NOVEMBER)
    lines = (EXAMPLES / "support-outcomes-events.jsonl").read_text().splitlines()
    send(engine, vendor.id, [json.loads(line) for line in lines], datetime(2026, 11, 9, tzinfo=UTC))
    # o-6 (Nov 8 11:00, never verified) is still inside its 72-hour window on Nov 9; o-3's
    # verdict was not a confirmation and its window ended on Nov 7.
    now = datetime(2026, 11, 9, tzinfo=UTC)
    with Session(engine) as session:
        rows = outcomes.page(session, customer, OutcomeFilter(), now).rows
    by_event = {row.event_id: row for row in rows}
    assert {event_id: row.label for event_id, row in by_event.items()} == {
        "o-1": "Billable",
        "o-2": "Superseded by qualification",
        "q-2": "Billable",
        "o-3": "Not verified",
        "h-4": "Billable",
        "o-5": "Rejected",
        "h-6": "Billable",
        "o-6": "Awaiting verification",
    }
    assert by_event["o-1"].evidence == {"properties.verdict": "resolved"}
    assert by_event["o-5"].evidence == {"properties.verdict": "resolved"}
    assert by_event["o-3"].evidence == {}  # "assisted" confirmed nothing
    assert by_event["h-4"].evidence == {}
    # The status filter keeps what the labels say (the same rule in SQL).
    with Session(engine) as session:
        for status, expected in [
            (DisplayStatus.AWAITING_VERIFICATION, ["o-6"]),
            (DisplayStatus.UNVERIFIED, ["o-3"]),
            (DisplayStatus.SUPERSEDED, ["o-2"]),
            (DisplayStatus.REJECTED, ["o-5"]),
        ]:
            page = outcomes.page(session, customer, OutcomeFilter(status=status), now)
            assert [row.event_id for row in page.rows] == expected, status
    # Once its window has ended without a confirmation, o-6 is not verified either.
    later = now + timedelta(days=3)
    with Session(engine) as session:
        rows = outcomes.page(session, customer, OutcomeFilter(), later).rows
    assert {row.event_id: row.label for row in rows}["o-6"] == "Not verified"


def test_the_pages_name_the_superseding_outcome_and_show_the_evidence(
    app: Any, engine: Engine, vendor: VendorFixture
) -> None:
    """What the customer reads: the status cell of the list and the detail page."""
    plan = create_plan(engine, vendor.id, (EXAMPLES / "support-outcomes.yaml").read_text())
    customer = create_customer(engine, vendor.id, "acme", plan, starts_at=NOVEMBER)
    lines = (EXAMPLES / "support-outcomes-events.jsonl").read_text().splitlines()
    now = datetime(2026, 11, 9, tzinfo=UTC)
    send(engine, vendor.id, [json.loads(line) for line in lines], now)
    app.dependency_overrides[request_now] = lambda: now
    try:
        with TestClient(app) as client:
            sign_in(client, vendor.api_key, customer)
            listed = client.get("/portal/outcomes", params={"all": "1"})
            detail = client.get(f"/portal/outcomes/{outcome_row(engine, 'o-5').id}")
            lost = client.get(f"/portal/outcomes/{outcome_row(engine, 'o-2').id}")
    finally:
        app.dependency_overrides.pop(request_now, None)
    assert listed.status_code == 200 and detail.status_code == 200
    cells = [
        unescape(re.sub(r"<[^>]+>", " ", cell)).split()
        for cell in re.findall(r'<td data-label="Status">(.*?)</td>', listed.text)
    ]
    # Newest first: o-6, h-6, o-5, h-4, o-3, q-2, o-2 (verified, then superseded), o-1.
    assert cells == [
        ["Awaiting", "verification"],
        ["Billable"],
        ["Rejected", "Verdict:", "resolved"],  # verified, then a CSAT score of 2
        ["Billable"],
        ["Not", "verified"],  # "assisted" is no evidence
        ["Billable"],
        ["Superseded", "by", "qualification", "Verdict:", "resolved"],
        ["Billable", "Verdict:", "resolved"],
    ]
    text = " ".join(unescape(re.sub(r"<[^>]+>", " ", detail.text)).split())
    assert "Evidence: Verdict resolved" in text
    # o-2's page links to the qualification billed for its conversation instead.
    winner = outcome_row(engine, "q-2").id
    assert (
        f'Superseded by <a id="superseded-by" href="/portal/outcomes/{winner}">qualification</a>'
        in lost.text
    )
