"""A paid credit grant bought through the fake Stripe: a one-off invoice of kind
`credit_purchase`, collected by the same sync as a period's invoice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from metering.billing.credit_purchases import service as purchases
from metering.billing.invoices.models import Invoice, InvoiceKind, InvoiceStatus
from metering.catalog.customers.models import Customer
from metering.platform.api.problems import ProblemError
from metering.platform.settings import Settings
from metering.surfaces.providers import sync_due
from tests.metering.billing.invoices.helpers import lines as line_rows
from tests.metering.providers.stripe.factory import billing, invoice_row
from tests.stripe_fake.harness import FakeStripe

PROVIDERS = {"stripe", "manual"}
BOUGHT_AT = datetime(2026, 11, 4, 1, 0, 0, tzinfo=UTC)  # a whole minute: moved off it
SYNCED_AT = BOUGHT_AT + timedelta(minutes=1)


def _buy(engine: Engine, customer_id: str, price: str, amount: str = "100.00") -> str:
    with Session(engine) as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None
        invoice_id = purchases.issue_invoice(
            session, customer, "usd", Decimal(amount), Decimal(price), PROVIDERS, BOUGHT_AT
        )
        session.commit()
        return invoice_id


def test_purchase_invoice_is_paid_in_stripe_with_one_line(
    engine: Engine, settings: Settings, fake_stripe: FakeStripe
) -> None:
    billed = billing(engine, stripe_customer_id=fake_stripe.customer_with_card())
    invoice_id = _buy(engine, billed.customer_id, "90.00")
    with Session(engine) as session:
        invoice = session.get(Invoice, invoice_id)
        assert invoice is not None
        assert invoice.kind == InvoiceKind.CREDIT_PURCHASE
        assert invoice.status == InvoiceStatus.ISSUED
        assert invoice.number == 1
        assert invoice.total == Decimal("90.00")
        assert invoice.period_start == invoice.period_end != BOUGHT_AT

    report = sync_due(engine, settings, now=SYNCED_AT)

    assert [r.outcome for r in report.results] == ["done"]
    state = invoice_row(engine, invoice_id)
    assert state.status == InvoiceStatus.PAID
    remote = fake_stripe.client().v1.invoices.retrieve(state.stripe_invoice_id or "")
    assert remote.status == "paid"
    assert remote.total == 9000
    assert remote.description == "Invoice 1: prepaid credits"
    [line] = line_rows(engine, invoice_id)
    assert line.kind == "credit_purchase"
    assert [(i.amount, i.description) for i in remote.lines.data] == [
        (9000, "Prepaid credits: 100.00 USD")
    ]


@pytest.mark.parametrize(
    ("price", "message"),
    [
        ("0", "purchase.price: must be more than zero"),
        ("-5.00", "purchase.price: must be more than zero"),
        ("9.999", "purchase.price: has more decimals than USD has (2)"),
    ],
)
def test_a_bad_price_is_refused_naming_the_field_and_nothing_is_written(
    engine: Engine, price: str, message: str
) -> None:
    billed = billing(engine)
    with pytest.raises(ProblemError) as raised:
        _buy(engine, billed.customer_id, price)
    assert raised.value.status == 422
    assert raised.value.detail == message
    with Session(engine) as session:
        assert session.exec(select(Invoice)).all() == []


def test_a_purchase_without_a_configured_provider_is_refused(engine: Engine) -> None:
    billed = billing(engine)  # a Stripe customer on a service without a Stripe key
    with Session(engine) as session:
        customer = session.get(Customer, billed.customer_id)
        assert customer is not None
        with pytest.raises(ProblemError) as raised:
            purchases.issue_invoice(
                session, customer, "usd", Decimal(100), Decimal(90), {"manual"}, BOUGHT_AT
            )
    assert raised.value.body()["errors"][0]["field"] == "purchase"
    assert "payment provider (stripe) is not configured" in raised.value.detail
