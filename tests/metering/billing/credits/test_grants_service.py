"""Grants through the service: created active or pending, activated, voided (both DBs)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from metering.billing.credits import ledger, service
from metering.billing.credits.models import CreditEntry, CreditGrant, EntryKind
from metering.billing.credits.schemas import GrantCreate
from metering.catalog.customers.models import Customer
from metering.platform.api.problems import ProblemError
from tests.metering.billing.credits.helpers import grant
from tests.metering.conftest import VendorFixture, create_customer

NOW = datetime(2026, 11, 10, tzinfo=UTC)


def _customer(engine: Engine, vendor: VendorFixture, plan_id: str) -> str:
    return create_customer(engine, vendor.id, "acme", plan_id)


def test_pending_grant_is_usable_only_once_activated(
    engine: Engine, vendor: VendorFixture, plan_id: str
) -> None:
    customer_id = _customer(engine, vendor, plan_id)
    with Session(engine) as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None
        data = GrantCreate(amount="100.00", category="paid", name="Pack")
        grant = service.create_pending(session, customer, data, NOW)
        assert (grant.status, grant.remaining) == ("pending_payment", Decimal(0))
        active = service.activate(session, grant.id, NOW)
        assert (active.status, active.remaining) == ("active", Decimal("100.00"))
        voided = service.void(session, active, NOW, "churned")
        assert (voided.status, voided.remaining) == ("voided", Decimal(0))
        with pytest.raises(ProblemError):
            service.void(session, voided, NOW, None)
        session.commit()
        kinds = [(e.kind, e.amount) for e in session.exec(select(CreditEntry)).all()]
        assert sorted(kinds) == [("grant", Decimal("100.00")), ("void", Decimal("-100.00"))]
        assert ledger.invariant_violations(session) == []
        assert session.exec(select(CreditGrant)).one().voided_at == NOW


def test_an_entry_naming_a_missing_invoice_breaks_the_invariant(
    engine: Engine, vendor: VendorFixture, plan_id: str
) -> None:
    """No foreign key checks an entry's invoice (migration 0027): the invariant does."""
    grant_id = grant(engine, _customer(engine, vendor, plan_id), "10.00", NOW)
    with Session(engine) as session:
        locked = ledger.lock(session, [grant_id])[grant_id]
        change = ledger.Change(locked, EntryKind.DRAWDOWN, Decimal("-1.00"), NOW, "inv_missing")
        [entry_id] = ledger.record(session, [change])
        assert ledger.invariant_violations(session) == [
            f"entry {entry_id}: invoice inv_missing is missing or another customer's"
        ]
        session.rollback()
