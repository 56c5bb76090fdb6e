"""A Zendesk-style commitment scaled down: 12 resolutions a year billed monthly (12,000 in
the issue), committed at 0.50, overage 1.20; a month closes on the 5th of the next."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.catalog.customers.models import Customer
from metering.catalog.subscriptions.schemas import Effective
from metering.catalog.vendors.models import Vendor
from metering.ledger.plan_changes.service import subscribe
from tests.metering.billing.invoices.helpers import close, iso, send

OUTCOMES = """\
plan: zendesk
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
"""
"""The plan's head: one resolution an outcome, settled a day later unless reopened."""

RULES = (
    OUTCOMES
    + """\
charges:
  - {name: Platform fee, model: flat, price: "10.00"}
commitment:
  term: year
  units: {resolved_conversation: 12}
  price: "0.50"
  overage: {unit_price: "1.20"}
  true_up: at_term_end
"""
)

AMOUNT_RULES = (
    OUTCOMES
    + """\
charges:
  - {name: Resolutions, outcome: resolved_conversation, model: per_unit, unit_price: "4.00"}
commitment:
  term: year
  amount: "120.00"
  overage: {multiplier: "1.25"}
  true_up: at_term_end
"""
)
"""An amount commitment: 120.00 a year (120,000.00 scaled down) spent at 4.00 a resolution;
past it, spend is billed at 1.25x (a 25% overage line)."""

VERSION_2 = RULES.replace("version: 1", "version: 2").replace('"1.20"', '"1.30"')
"""The plan change of month 6: overage at 1.30 from then on."""

YEAR = datetime(2026, 1, 1, tzinfo=UTC)


def day(month: int, number: int, hour: int = 12) -> datetime:
    return datetime(2026, month, number, hour, tzinfo=UTC)


def resolved(event_id: str, when: datetime) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "conversation.resolved",
        "customer": "acme",
        "timestamp": iso(when),
        "properties": {"conversation_id": event_id},
    }


def reopened(event_id: str, conversation: str, when: datetime) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "conversation.reopened",
        "customer": "acme",
        "timestamp": iso(when),
        "properties": {"conversation_id": conversation},
    }


def month_end_close(engine: Engine, month: int) -> None:
    """Close `month` on the 5th of the next month."""
    following = datetime(2026 + month // 12, month % 12 + 1, 5, tzinfo=UTC)
    close(engine, following)


def send_month(engine: Engine, vendor_id: str, month: int, days: list[int]) -> None:
    """One resolution on each of `days`, received as it happens."""
    for number in days:
        event = resolved(f"m{month}d{number}", day(month, number))
        send(engine, vendor_id, [event], day(month, number, 13))


def change_plan(engine: Engine, vendor_id: str, customer_id: str, when: datetime) -> None:
    """Move the customer to version 2 at once (the month is split in two periods)."""
    with Session(engine) as session:
        owner = session.get(Vendor, vendor_id)
        customer = session.get(Customer, customer_id)
        assert owner is not None and customer is not None
        subscribe(
            session,
            owner,
            customer,
            "zendesk",
            version=2,
            effective=Effective.IMMEDIATELY,
            now=when,
        )
        session.commit()
