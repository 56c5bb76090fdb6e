"""The customer withdraws an open dispute from the portal: closed for good, the outcome stays
billed, the vendor hears of it; the disputes page shows what an open dispute has at stake."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from metering.catalog.customers.models import Customer
from metering.ledger.disputes import service
from metering.ledger.disputes.models import Dispute
from metering.platform.api.clock import request_now
from metering.platform.api.problems import ProblemError
from metering.platform.db.ids import new_id
from metering.platform.outbox.models import WebhookDelivery, WebhookEndpoint
from tests.metering.conftest import VendorFixture, create_customer
from tests.metering.ledger.disputes.helpers import answer, file_dispute, outcome_row
from tests.metering.surfaces.portal.helpers import csrf_of, sign_in
from tests.metering.surfaces.portal.outcomes_scenario import NOW, build


@pytest.fixture
def acme(engine: Engine, vendor: VendorFixture) -> str:
    customer = build(engine, vendor)
    with Session(engine) as session:
        session.add(
            WebhookEndpoint(
                id=new_id("we"),
                vendor_id=vendor.id,
                url="https://example.test/hooks",
                event_types=["dispute.resolved"],
                secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            )
        )
        session.commit()
    return customer


@pytest.fixture
def client(app: Any, vendor: VendorFixture, acme: str) -> Iterator[TestClient]:
    app.dependency_overrides[request_now] = lambda: NOW
    with TestClient(app) as client:
        sign_in(client, vendor.api_key, acme)
        yield client
    app.dependency_overrides.pop(request_now, None)


def dispute_of(engine: Engine, event_id: str) -> Dispute:
    with Session(engine) as session:
        return session.exec(
            select(Dispute)
            .where(Dispute.event_id == event_id)
            .order_by(col(Dispute.created_at).desc())
        ).first()  # type: ignore[return-value]


def withdraw(engine: Engine, customer_id: str, dispute_id: str) -> Dispute:
    with Session(engine, expire_on_commit=False) as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None
        dispute = service.withdraw(session, customer, dispute_id, NOW + timedelta(hours=1))
        session.commit()
        return dispute


def test_withdrawing_closes_the_dispute_for_good_and_tells_the_vendor(
    engine: Engine, acme: str
) -> None:
    open_one = dispute_of(engine, "d-disputed")
    withdrawn = withdraw(engine, acme, open_one.id)
    assert withdrawn.status == "withdrawn"
    assert withdrawn.resolved_at == NOW + timedelta(hours=1)
    assert outcome_row(engine, "d-disputed").state == "counted"  # still billed
    with Session(engine) as session:
        sent = session.exec(select(WebhookDelivery)).all()
        closing = [
            json.loads(d.payload)["data"] for d in sent if d.event_type == "dispute.resolved"
        ]
        assert {"id": open_one.id, "status": "withdrawn"}.items() <= closing[-1].items()
    with pytest.raises(ProblemError) as again:
        withdraw(engine, acme, open_one.id)
    assert again.value.status == 409 and "already withdrawn" in (again.value.detail or "")
    # Terminal: the vendor cannot answer it any more, the customer may dispute anew.
    with pytest.raises(ProblemError) as answered:
        answer(engine, open_one.vendor_id, open_one.id, accepted=True, now=NOW)
    assert answered.value.status == 409
    file_dispute(engine, acme, "d-disputed", NOW + timedelta(hours=2))


def test_a_closed_or_anothers_dispute_cannot_be_withdrawn(
    engine: Engine, vendor: VendorFixture, acme: str
) -> None:
    accepted = dispute_of(engine, "d-credited")
    with pytest.raises(ProblemError) as closed:
        withdraw(engine, acme, accepted.id)
    assert closed.value.status == 409 and "already accepted" in (closed.value.detail or "")
    globex = create_customer(engine, vendor.id, "globex")
    with pytest.raises(ProblemError) as theirs:
        withdraw(engine, globex, dispute_of(engine, "d-disputed").id)
    assert theirs.value.status == 404


def test_the_disputes_page_shows_the_amount_at_stake_and_withdraws_with_csrf(
    client: TestClient, engine: Engine
) -> None:
    open_one = dispute_of(engine, "d-disputed")
    page = client.get("/portal/disputes")
    # December's second counted resolution: one of the 2 free ones, so nothing at stake...
    stake = re.search(rf'data-amount="([^"]+)" id="stake-{open_one.id}">([^<]+)<', page.text)
    assert stake is not None and stake.group(2) == "$0.00"
    assert f'id="withdraw-{open_one.id}"' in page.text
    accepted = dispute_of(engine, "d-credited")
    assert f'id="withdraw-{accepted.id}"' not in page.text

    refused = client.post(f"/portal/disputes/{open_one.id}/withdraw", data={"csrf_token": "forged"})
    assert refused.status_code == 403
    assert dispute_of(engine, "d-disputed").status == "open"
    done = client.post(
        f"/portal/disputes/{open_one.id}/withdraw",
        data={"csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/portal/disputes?withdrawn=1"
    after = client.get("/portal/disputes?withdrawn=1")
    assert "Your dispute was withdrawn" in after.text and "Withdrawn by you" in after.text
    assert dispute_of(engine, "d-disputed").status == "withdrawn"
    again = client.post(
        f"/portal/disputes/{open_one.id}/withdraw", data={"csrf_token": csrf_of(page.text)}
    )
    assert again.status_code == 409 and "only an open dispute can be withdrawn" in again.text


def test_an_open_dispute_on_a_paid_outcome_puts_its_price_at_stake(
    client: TestClient, engine: Engine, acme: str
) -> None:
    # The pending c25 is December's third counted resolution: 0.99 once it settles.
    filed = file_dispute(engine, acme, "d-pending", NOW)
    page = client.get("/portal/disputes")
    assert f'data-amount="0.99" id="stake-{filed}">$0.99<' in page.text
