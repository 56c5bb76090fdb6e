"""Sending events at a chosen time, closing periods, and reading invoices back."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from metering.billing.invoices import repository
from metering.billing.invoices.close import CloseReport, close_due
from metering.billing.invoices.models import Invoice, InvoiceLine
from metering.billing.payments import links
from metering.billing.payments.models import InvoicePaymentLink
from metering.ledger.events.service import void
from tests.metering.ledger.events.helpers import ingest_all

RULES = """\
plan: support-agent
version: 1
currency: usd
billing: {interval: month, timezone: UTC, close_after: 72h}
outcomes:
  resolved_conversation:
    event: conversation.resolved
    where:
      properties.channel: {in: [chat, email]}
    unique_by: properties.conversation_id
    settle:
      after: 24h
      reversed_by: {event: conversation.reopened, match: properties.conversation_id}
  pipeline_value:
    event: deal.closed
    unique_by: properties.deal_id
    measure: {sum: properties.amount}
charges:
  - outcome: resolved_conversation
    model: graduated
    free_units: 2
    tiers:
      - {up_to: 5, unit_price: "0.99"}
      - {up_to: null, unit_price: "0.79"}
  - outcome: pipeline_value
    model: percentage
    rate: "1.5"
    per_event_min: "1.00"
    per_event_max: "50.00"
  - {name: Platform fee, model: flat, price: "20.00"}
minimum: "25.00"
"""

OCTOBER = datetime(2026, 10, 1, tzinfo=UTC)
NOVEMBER = datetime(2026, 11, 1, tzinfo=UTC)
DECEMBER = datetime(2026, 12, 1, tzinfo=UTC)


def at(day: int, hour: int = 12, month: int = 10) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def iso(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


def resolution(
    event_id: str, when: datetime, conversation: str, customer: str = "acme"
) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "conversation.resolved",
        "customer": customer,
        "timestamp": iso(when),
        "properties": {"conversation_id": conversation, "channel": "chat"},
    }


def reopen(
    event_id: str, when: datetime, conversation: str, customer: str = "acme"
) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "conversation.reopened",
        "customer": customer,
        "timestamp": iso(when),
        "properties": {"conversation_id": conversation},
    }


def deal(
    event_id: str, when: datetime, amount: str, customer: str = "acme", deal_id: str | None = None
) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "deal.closed",
        "customer": customer,
        "timestamp": iso(when),
        "properties": {"deal_id": deal_id or event_id, "amount": Decimal(amount)},
    }


def send(engine: Engine, vendor_id: str, events: list[dict[str, Any]], now: datetime) -> None:
    ingest_all(engine, vendor_id, events, now)


def void_event(engine: Engine, vendor_id: str, event_id: str, reason: str, now: datetime) -> None:
    with Session(engine) as session:
        void(session, vendor_id, event_id, reason, now)
        session.commit()


def close(engine: Engine, now: datetime, **kwargs: Any) -> CloseReport:
    return close_due(engine, now, **kwargs)


def invoices(engine: Engine) -> list[Invoice]:
    with Session(engine) as session:
        return list(session.exec(select(Invoice).order_by(col(Invoice.number))).all())


def update_invoice(engine: Engine, invoice_id: str, **values: Any) -> None:
    """Set columns of a stored invoice, as an operator, Stripe or the API would have."""
    with Session(engine) as session:
        invoice = session.get(Invoice, invoice_id)
        assert invoice is not None
        for name, value in values.items():
            setattr(invoice, name, value)
        session.add(invoice)
        session.commit()


def payment_link(engine: Engine, invoice_id: str) -> InvoicePaymentLink:
    with Session(engine) as session:
        link = session.get(InvoicePaymentLink, invoice_id)
        assert link is not None
        return link


def update_payment_link(engine: Engine, invoice_id: str, **values: Any) -> None:
    """Set columns of an invoice's payment link, as the sync or a webhook would have."""
    with Session(engine) as session:
        links.update(session, invoice_id, **values)
        session.commit()


def lines(engine: Engine, invoice_id: str) -> list[InvoiceLine]:
    with Session(engine) as session:
        return list(repository.lines_of(session, invoice_id))


def summary(engine: Engine, invoice_id: str) -> list[tuple[str, str, str]]:
    """(kind, description, amount) of each line: what a reader of the invoice sees."""
    return [
        (line.kind, line.description, str(line.amount.quantize(Decimal("0.01"))))
        for line in lines(engine, invoice_id)
    ]
