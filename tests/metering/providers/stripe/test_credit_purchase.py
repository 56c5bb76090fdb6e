"""A paid credit grant bought through the fake Stripe: a one-off invoice of kind
`credit_purchase`, collected by the same sync as a period's invoice; the grant is usable only
once that invoice is paid (or at once with `effective: on_issue`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from metering.billing.credit_purchases import service as purchases
from metering.billing.credits import ledger
from metering.billing.credits.models import CreditEntry, CreditGrant
from metering.billing.credits.schemas import GrantCreate, Purchase
from metering.billing.invoices import lifecycle
from metering.billing.invoices.models import Invoice, InvoiceKind, InvoiceStatus
from metering.catalog.customers.models import Customer
from metering.platform.api.problems import ProblemError
from metering.platform.settings import Settings
from metering.surfaces.providers import sync_due
from tests.metering.billing.invoices.helpers import lines as line_rows
from tests.metering.providers.stripe.factory import billing, invoice_row
from tests.metering.providers.stripe.test_webhook import PAID_AT, deliver, event, paid
from tests.stripe_fake.harness import FakeStripe

PROVIDERS = {"stripe", "manual"}
BOUGHT_AT = datetime(2026, 11, 4, 1, 0, 0, tzinfo=UTC)  # a whole minute: moved off it
SYNCED_AT = BOUGHT_AT + timedelta(minutes=1)


def _order(price: str, effective: str = "on_payment", amount: str = "100.00") -> GrantCreate:
    return GrantCreate(
        amount=amount,
        category="paid",
        name="Starter pack",
        purchase=Purchase(price=price, effective=effective),  # type: ignore[arg-type]
    )


def _buy(
    engine: Engine, customer_id: str, order: GrantCreate, providers: set[str] = PROVIDERS
) -> CreditGrant:
    with Session(engine) as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None
        grant = purchases.purchase(session, customer, order, providers, BOUGHT_AT)
        session.commit()
        session.refresh(grant)
        return grant


def _grant(engine: Engine, grant_id: str) -> tuple[str, Decimal, list[tuple[str, Decimal]]]:
    """The grant's status, remaining amount and ledger entries (kind, amount)."""
    with Session(engine) as session:
        grant = session.get(CreditGrant, grant_id)
        assert grant is not None
        entries = session.exec(select(CreditEntry).where(CreditEntry.grant_id == grant_id)).all()
        assert ledger.invariant_violations(session) == []
        return grant.status, grant.remaining, [(e.kind, e.amount) for e in entries]


def test_bought_grant_is_usable_only_once_its_stripe_invoice_is_paid(
    engine: Engine, settings: Settings, fake_stripe: FakeStripe
) -> None:
    billed = billing(engine, stripe_customer_id=fake_stripe.customer_with_card())
    grant = _buy(engine, billed.customer_id, _order("90.00"))
    assert grant.purchase_invoice_id is not None
    invoice_id = grant.purchase_invoice_id
    with Session(engine) as session:
        invoice = session.get(Invoice, invoice_id)
        assert invoice is not None
        assert invoice.kind == InvoiceKind.CREDIT_PURCHASE
        assert invoice.status == InvoiceStatus.ISSUED
        assert invoice.number == 1
        assert invoice.total == Decimal("90.00")
        assert invoice.period_start == invoice.period_end != BOUGHT_AT
    assert _grant(engine, grant.id) == ("pending_payment", Decimal(0), [])

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
    assert _grant(engine, grant.id) == (
        "active",
        Decimal("100.00"),
        [("grant", Decimal("100.00"))],
    )


def test_a_declined_purchase_leaves_the_grant_unusable(
    engine: Engine, settings: Settings, fake_stripe: FakeStripe
) -> None:
    billed = billing(
        engine, stripe_customer_id=fake_stripe.customer_with_card("pm_card_chargeCustomerFail")
    )
    grant = _buy(engine, billed.customer_id, _order("90.00"))

    sync_due(engine, settings, now=SYNCED_AT)

    assert invoice_row(engine, grant.purchase_invoice_id or "").status == "payment_failed"
    assert _grant(engine, grant.id) == ("pending_payment", Decimal(0), [])


def test_on_issue_grant_is_usable_at_once_and_voided_with_its_invoice(
    engine: Engine, fake_stripe: FakeStripe
) -> None:
    billed = billing(engine, stripe_customer_id=fake_stripe.customer_with_card())
    grant = _buy(engine, billed.customer_id, _order("90.00", effective="on_issue"))
    assert _grant(engine, grant.id) == ("active", Decimal("100.00"), [("grant", Decimal("100.00"))])

    with Session(engine) as session:
        assert lifecycle.void(session, grant.purchase_invoice_id or "", SYNCED_AT)
        session.commit()

    status, remaining, entries = _grant(engine, grant.id)
    assert (status, remaining) == ("voided", Decimal(0))
    assert entries == [("grant", Decimal("100.00")), ("void", Decimal("-100.00"))]


@pytest.mark.parametrize(
    ("price", "message"),
    [
        ("0", "purchase.price: must be above zero"),
        ("-5.00", "purchase.price: must be above zero"),
        ("9.999", "purchase.price: has more decimals than USD has (2)"),
    ],
)
def test_a_bad_price_is_refused_naming_the_field_and_nothing_is_written(
    engine: Engine, price: str, message: str
) -> None:
    billed = billing(engine)
    with pytest.raises(ProblemError) as raised:
        _buy(engine, billed.customer_id, _order(price))
    assert raised.value.status == 422
    assert raised.value.detail == message
    assert raised.value.body()["errors"][0]["field"] == "purchase.price"
    with Session(engine) as session:
        assert session.exec(select(Invoice)).all() == []
        assert session.exec(select(CreditGrant)).all() == []


def test_a_purchase_without_a_configured_provider_is_refused(engine: Engine) -> None:
    billed = billing(engine)  # a Stripe customer on a service without a Stripe key
    with pytest.raises(ProblemError) as raised:
        _buy(engine, billed.customer_id, _order("90.00"), providers={"manual"})
    assert raised.value.type == "/problems/credit-purchase-unavailable"
    assert raised.value.body()["errors"][0]["field"] == "purchase"
    assert "payment provider (stripe) is not configured" in raised.value.detail
    with Session(engine) as session:
        assert session.exec(select(CreditGrant)).all() == []


def test_a_sent_purchase_invoice_makes_the_grant_usable_when_stripe_says_it_is_paid(
    engine: Engine, settings: Settings, fake_stripe: FakeStripe, client: TestClient
) -> None:
    billed = billing(engine, collection_method="send_invoice")
    grant = _buy(engine, billed.customer_id, _order("90.00"))
    sync_due(engine, settings, now=SYNCED_AT)
    state = invoice_row(engine, grant.purchase_invoice_id or "")
    assert (state.status, state.stripe_hosted_url is not None) == ("issued", True)
    assert _grant(engine, grant.id) == ("pending_payment", Decimal(0), [])

    payload = event("evt_purchase_paid", "invoice.paid", paid(state.stripe_invoice_id or ""))
    assert deliver(client, payload)["applied"]

    assert invoice_row(engine, state.id).paid_at == PAID_AT
    assert _grant(engine, grant.id) == ("active", Decimal("100.00"), [("grant", Decimal("100.00"))])
    with Session(engine) as session:
        [entry] = session.exec(select(CreditEntry).where(CreditEntry.grant_id == grant.id)).all()
    assert (entry.at, entry.invoice_id) == (PAID_AT, state.id)
