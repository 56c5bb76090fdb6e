"""Filing and answering disputes as the portal and the vendor API do, at a chosen time."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from metering.catalog.customers.models import Customer
from metering.catalog.vendors.models import Vendor
from metering.ledger.disputes import service
from metering.ledger.disputes.models import Dispute
from metering.ledger.outcomes.models import Outcome


def outcome_row(engine: Engine, event_id: str) -> Outcome:
    with Session(engine) as session:
        return session.exec(select(Outcome).where(Outcome.event_id == event_id)).one()


def file_dispute(
    engine: Engine, customer_id: str, event_id: str, now: datetime, reason: str = "Not resolved"
) -> str:
    """File a dispute on the outcome of `event_id` as the customer; the dispute id."""
    row_id = outcome_row(engine, event_id).id
    assert row_id is not None
    with Session(engine) as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None
        dispute = service.file(session, customer, row_id, reason, now)
        session.commit()
        return dispute.id


def answer(
    engine: Engine, vendor_id: str, dispute_id: str, accepted: bool, now: datetime
) -> Dispute:
    with Session(engine, expire_on_commit=False) as session:
        vendor = session.get(Vendor, vendor_id)
        assert vendor is not None
        if accepted:
            dispute = service.accept(session, vendor, dispute_id, "Agreed", now)
        else:
            dispute = service.reject(session, vendor, dispute_id, "It was resolved", now)
        session.commit()
        return dispute
