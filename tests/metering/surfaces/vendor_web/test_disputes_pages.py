"""The disputes desk: accept or reject in the page, with the note the customer reads,
through the API's dispute service; a rejection needs a note; a dispute is answered once."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.ledger.disputes.models import Dispute
from tests.metering.surfaces.reports.test_vendor_pages import csrf_of
from tests.metering.surfaces.vendor_web.scenario import Books


def stored(engine: Engine, dispute_id: str) -> Dispute:
    with Session(engine) as session:
        found = session.get(Dispute, dispute_id)
        assert found is not None
        return found


def test_the_desk_lists_open_disputes_with_their_reason(
    app_client: TestClient, signed_in: Books
) -> None:
    page = app_client.get("/vendor/disputes").text
    assert f'id="dispute-{signed_in.dispute}"' in page
    assert "Resolved conversation acme-c0" in page and "Reopened" in page
    assert "No accepted dispute." in app_client.get("/vendor/disputes?status=accepted").text


def test_accept_with_a_note(engine: Engine, app_client: TestClient, signed_in: Books) -> None:
    token = csrf_of(app_client.get("/vendor/disputes").text)
    done = app_client.post(
        f"/vendor/disputes/{signed_in.dispute}/accept",
        data={"csrf_token": token, "note": "Agreed, credited."},
    )
    assert done.status_code == 200
    assert "The dispute was accepted" in done.text
    dispute = stored(engine, signed_in.dispute)
    assert (dispute.status, dispute.resolution_note) == ("accepted", "Agreed, credited.")
    assert signed_in.dispute not in done.text  # no longer open
    assert signed_in.dispute in app_client.get("/vendor/disputes?status=accepted").text
    again = app_client.post(
        f"/vendor/disputes/{signed_in.dispute}/reject", data={"csrf_token": token, "note": "No"}
    )
    assert again.status_code == 409
    assert "was already accepted" in again.text


def test_reject_needs_a_note(engine: Engine, app_client: TestClient, signed_in: Books) -> None:
    token = csrf_of(app_client.get("/vendor/disputes").text)
    refused = app_client.post(
        f"/vendor/disputes/{signed_in.dispute}/reject", data={"csrf_token": token, "note": "  "}
    )
    assert refused.status_code == 422
    assert "Write a note to reject" in refused.text
    assert stored(engine, signed_in.dispute).status == "open"
    done = app_client.post(
        f"/vendor/disputes/{signed_in.dispute}/reject",
        data={"csrf_token": token, "note": "The customer confirmed it was solved."},
    )
    assert "The dispute was rejected" in done.text
    dispute = stored(engine, signed_in.dispute)
    assert dispute.status == "rejected"
    assert dispute.resolution_note == "The customer confirmed it was solved."
