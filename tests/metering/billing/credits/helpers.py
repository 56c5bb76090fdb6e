"""A plan easy to compute by hand, grants made through the service, the ledger read back."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from metering.billing.credits import ledger, service
from metering.billing.credits.models import CreditEntry, CreditGrant
from metering.billing.credits.schemas import GrantCreate
from metering.catalog.customers.models import Customer
from tests.metering.billing.invoices.helpers import resolution, send

RULES = """\
plan: support-agent
version: 1
currency: usd
billing: {interval: month, timezone: UTC, close_after: 72h}
outcomes:
  resolved_conversation:
    event: conversation.resolved
    unique_by: properties.conversation_id
    settle:
      after: 24h
      reversed_by: {event: conversation.reopened, match: properties.conversation_id}
charges:
  - {name: Resolutions, outcome: resolved_conversation, model: per_unit, unit_price: "2.50"}
  - {name: Platform fee, model: flat, price: "20.00"}
"""
JPY_RULES = (
    RULES.replace("currency: usd", "currency: jpy")
    .replace('"2.50"', '"250"')
    .replace('"20.00"', '"2000"')
)


def grant(engine: Engine, customer_id: str, amount: str, now: datetime, **fields: Any) -> str:
    """A usable grant made through the service; its id."""
    with Session(engine) as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None
        made = service.create(session, customer, GrantCreate(amount=amount, **fields), now)
        session.commit()
        return made.id


def resolutions(
    engine: Engine, vendor_id: str, prefix: str, count: int, when: datetime, customer: str = "acme"
) -> None:
    """`count` distinct resolved conversations at `when`, received then."""
    events = [resolution(f"{prefix}{i}", when, f"{prefix}-c{i}", customer) for i in range(count)]
    send(engine, vendor_id, events, when)


def remaining(engine: Engine, grant_id: str) -> Decimal:
    with Session(engine) as session:
        found = session.get(CreditGrant, grant_id)
        assert found is not None
        return found.remaining


def entries(engine: Engine, grant_id: str | None = None) -> list[tuple[str, str]]:
    """(kind, amount to the cent) of the ledger entries, oldest first."""
    with Session(engine) as session:
        statement = select(CreditEntry).order_by(col(CreditEntry.id))
        if grant_id is not None:
            statement = statement.where(CreditEntry.grant_id == grant_id)
        return [(e.kind, str(e.amount.quantize(Decimal("0.01")))) for e in session.exec(statement)]


def assert_ledger_right(engine: Engine) -> None:
    """Every grant's remaining is the sum of its entries, and never below zero."""
    with Session(engine) as session:
        assert ledger.invariant_violations(session) == []
