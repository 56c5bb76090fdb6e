"""A dispute from the portal form to the vendor's answer through the API, and back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from metering.platform.api.clock import request_now
from metering.platform.db.ids import new_id
from metering.platform.outbox.models import WebhookDelivery, WebhookEndpoint
from tests.metering.conftest import VendorFixture
from tests.metering.ledger.disputes.helpers import outcome_row
from tests.metering.platform.api.support import bearer, make_vendor
from tests.metering.surfaces.portal.helpers import csrf_of, sign_in
from tests.metering.surfaces.portal.outcomes_scenario import NOW, build


@pytest.fixture
def client(app: Any, engine: Engine, vendor: VendorFixture) -> Iterator[TestClient]:
    """Signed in as acme (see the scenario), pages as of `NOW`."""
    customer = build(engine, vendor)
    with Session(engine) as session:
        session.add(
            WebhookEndpoint(
                id=new_id("we"),
                vendor_id=vendor.id,
                url="https://example.test/hooks",
                event_types=["outcome.disputed", "dispute.resolved"],
                secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            )
        )
        session.commit()
    app.dependency_overrides[request_now] = lambda: NOW
    with TestClient(app) as client:
        sign_in(client, vendor.api_key, customer)
        yield client
    app.dependency_overrides.pop(request_now, None)


def file_from_the_form(client: TestClient, outcome_id: int | None, reason: str) -> Any:
    page = client.get(f"/portal/outcomes/{outcome_id}")
    return client.post(
        f"/portal/outcomes/{outcome_id}/dispute",
        data={"reason": reason, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )


def filed_on(client: TestClient, api_key: str, outcome_id: int | None) -> dict[str, Any]:
    """The vendor's view of the dispute filed on `outcome_id`."""
    every = client.get("/v1/disputes", headers=bearer(api_key)).json()["data"]
    [found] = [d for d in every if d["outcome_id"] == outcome_id]
    return found


def webhooks(engine: Engine) -> list[tuple[str, dict[str, Any]]]:
    with Session(engine) as session:
        rows = session.exec(select(WebhookDelivery).order_by(col(WebhookDelivery.created_at))).all()
    return [(row.event_type, json.loads(row.payload)["data"]) for row in rows]


def test_filed_in_the_portal_accepted_by_the_vendor_seen_by_the_customer(
    client: TestClient, engine: Engine, vendor: VendorFixture
) -> None:
    row_id = outcome_row(engine, "d-billable").id
    filed = file_from_the_form(client, row_id, "  The customer reopened it by phone.  ")
    assert filed.status_code == 303 and filed.headers["location"].startswith("/portal/disputes")
    listed = client.get("/portal/disputes?filed=1")
    assert "Your dispute was sent" in listed.text
    assert "The customer reopened it by phone." in listed.text
    assert "Waiting for an answer" in listed.text
    assert ">Disputed</span>" in client.get(f"/portal/outcomes/{row_id}").text

    queue = client.get("/v1/disputes", params={"status": "open"}, headers=bearer(vendor.api_key))
    [mine] = [d for d in queue.json()["data"] if d["outcome_id"] == row_id]
    assert mine["dedupe_key"] == "c20" and mine["event_id"] == "d-billable"
    assert mine["reason"] == "The customer reopened it by phone."

    accepted = client.post(
        f"/v1/disputes/{mine['id']}/accept",
        json={"note": "Agreed, credited."},
        headers=bearer(vendor.api_key),
    )
    assert accepted.status_code == 200
    assert accepted.json()["status"] == "accepted"
    assert accepted.json()["resolved_at"] is not None

    page = client.get("/portal/disputes")
    assert "Agreed, credited." in page.text and ">Accepted</span>" in page.text
    detail = client.get(f"/portal/outcomes/{row_id}")
    assert ">Credited</span>" in detail.text and "Dispute this outcome" not in detail.text
    assert outcome_row(engine, "d-billable").state == "credited"
    events = [(kind, data["id"], data["status"]) for kind, data in webhooks(engine)]
    assert events[-2:] == [
        ("outcome.disputed", mine["id"], "open"),
        ("dispute.resolved", mine["id"], "accepted"),
    ]


def test_rejected_keeps_the_outcome_and_shows_the_note(
    client: TestClient, engine: Engine, vendor: VendorFixture
) -> None:
    row_id = outcome_row(engine, "r0").id
    file_from_the_form(client, row_id, "Never happened")
    dispute = filed_on(client, vendor.api_key, row_id)

    no_note = client.post(
        f"/v1/disputes/{dispute['id']}/reject", json={"note": "  "}, headers=bearer(vendor.api_key)
    )
    assert no_note.status_code == 422 and "note" in no_note.json()["detail"]
    rejected = client.post(
        f"/v1/disputes/{dispute['id']}/reject",
        json={"note": "The transcript shows it resolved."},
        headers=bearer(vendor.api_key),
    )
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert outcome_row(engine, "r0").state == "counted"
    assert "Billed on invoice" in client.get(f"/portal/outcomes/{row_id}").text
    page = client.get("/portal/disputes")
    assert "The transcript shows it resolved." in page.text and ">Rejected</span>" in page.text
    assert webhooks(engine)[-1][1]["status"] == "rejected"


def test_a_dispute_is_resolved_once(
    client: TestClient, engine: Engine, vendor: VendorFixture
) -> None:
    row_id = outcome_row(engine, "d-billable").id
    file_from_the_form(client, row_id, "Not resolved")
    dispute = filed_on(client, vendor.api_key, row_id)
    path = f"/v1/disputes/{dispute['id']}"
    assert client.post(f"{path}/accept", headers=bearer(vendor.api_key)).status_code == 200

    for action, body in (("accept", {}), ("reject", {"note": "no"})):
        again = client.post(f"{path}/{action}", json=body, headers=bearer(vendor.api_key))
        assert again.status_code == 409
        assert again.headers["content-type"] == "application/problem+json"
        assert "already accepted" in again.json()["detail"]
    kept = client.get(path, headers=bearer(vendor.api_key)).json()
    assert kept["status"] == "accepted" and kept["resolution_note"] is None


def test_one_open_dispute_per_outcome(client: TestClient, engine: Engine) -> None:
    row_id = outcome_row(engine, "d-billable").id
    assert file_from_the_form(client, row_id, "First").status_code == 303
    page = client.get(f"/portal/outcomes/{row_id}")
    assert "Dispute this outcome" not in page.text
    again = client.post(
        f"/portal/outcomes/{row_id}/dispute",
        data={"reason": "Second", "csrf_token": csrf_of(page.text)},
    )
    assert again.status_code == 409
    assert "already has an open dispute" in again.text


def test_an_empty_reason_or_an_outcome_not_counted_is_refused_with_the_form(
    client: TestClient, engine: Engine
) -> None:
    empty = file_from_the_form(client, outcome_row(engine, "d-billable").id, "   ")
    assert empty.status_code == 422 and "Say why the outcome is disputed" in empty.text
    assert 'aria-invalid="true"' in empty.text
    duplicate = outcome_row(engine, "d-dup").id
    page = client.get("/portal/outcomes")
    refused = client.post(
        f"/portal/outcomes/{duplicate}/dispute",
        data={"reason": "Not one", "csrf_token": csrf_of(page.text)},
    )
    assert refused.status_code == 409 and "only counted outcomes" in refused.text


def test_the_vendor_lists_by_status_and_customer_a_page_at_a_time(
    client: TestClient, engine: Engine, vendor: VendorFixture
) -> None:
    file_from_the_form(client, outcome_row(engine, "d-billable").id, "One")
    headers = bearer(vendor.api_key)
    every = client.get("/v1/disputes", headers=headers).json()["data"]
    assert sorted(d["status"] for d in every) == ["accepted", "accepted", "open", "open"]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 1} | ({"cursor": cursor} if cursor else {})
        answer = client.get("/v1/disputes", params=params, headers=headers).json()
        seen += [d["id"] for d in answer["data"]]
        cursor = answer["next_cursor"]
        if cursor is None:
            break
    assert seen == [d["id"] for d in every]
    customer = every[0]["customer_id"]
    assert (
        len(
            client.get("/v1/disputes", params={"customer": customer}, headers=headers).json()[
                "data"
            ]
        )
        == 4
    )
    unknown = client.get("/v1/disputes", params={"customer": "cus_other"}, headers=headers)
    assert unknown.status_code == 404 and unknown.json()["detail"] == "No customer 'cus_other'."
    assert client.get("/v1/disputes", params={"status": "lost"}, headers=headers).status_code == 422


def test_another_vendors_dispute_is_404(
    client: TestClient, engine: Engine, vendor: VendorFixture
) -> None:
    row_id = outcome_row(engine, "d-billable").id
    file_from_the_form(client, row_id, "One")
    dispute = filed_on(client, vendor.api_key, row_id)
    other = make_vendor(engine, "Other AI")
    headers = bearer(other.api_key)
    assert client.get(f"/v1/disputes/{dispute['id']}", headers=headers).status_code == 404
    assert client.post(f"/v1/disputes/{dispute['id']}/accept", headers=headers).status_code == 404
    assert client.get("/v1/disputes", headers=headers).json()["data"] == []
    assert client.get("/v1/disputes").status_code == 401
