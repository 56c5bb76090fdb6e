"""An automatic top-up whose purchase fails for good through the fake Stripe (a declining
card, `pm_card_chargeCustomerFail`): once the last payment retry fails the purchase invoice
is voided (at Stripe too), the grant it sold is voided, the top-up is armed again and
`credits.top_up_failed` is sent; the next check buys again, and only one purchase is ever
payable. A voided purchase invoice re-arms it the same way; a failure of an older drop never
re-arms a top-up whose newer purchase is live."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from metering.billing.credit_purchases import activation, top_up
from metering.billing.credit_purchases.models import AutoTopUp
from metering.billing.credit_purchases.schemas import AutoTopUpSet
from metering.billing.credits import ledger
from metering.billing.credits.models import CreditGrant
from metering.billing.invoices import lifecycle
from metering.billing.invoices.models import Invoice, InvoiceKind
from metering.catalog.customers.models import Customer
from metering.platform.settings import Settings
from metering.surfaces.providers import sync_due
from tests.metering.notify.webhooks.helpers import add_endpoint, deliveries, payload
from tests.metering.providers.stripe.factory import NOW, Billing, billing, invoice_row
from tests.metering.providers.stripe.test_dunning import set_schedule
from tests.stripe_fake.harness import FakeStripe

PROVIDERS = {"stripe", "manual"}
EVENTS = ["credits.top_up_failed", "invoice.uncollectible", "credits.granted"]


def _customer(engine: Engine, fake: FakeStripe, card: str) -> Billing:
    """A Stripe customer with no credits and a top-up below 20.00 (so the first check buys
    100.00 of credits for 95.00)."""
    billed = billing(engine, stripe_customer_id=fake.customer_with_card(card))
    add_endpoint(engine, billed.vendor_id, "https://vendor.test/hooks", EVENTS)
    with Session(engine) as session:
        customer = session.get(Customer, billed.customer_id)
        assert customer is not None
        top_up.configure(
            session,
            customer,
            AutoTopUpSet(below="20.00", amount="100.00", price="95.00"),
            PROVIDERS,
            NOW,
        )
        session.commit()
    return billed


def _check(engine: Engine, billed: Billing, at: Any = NOW) -> list[str]:
    return top_up.check_customers(engine, [billed.customer_id], PROVIDERS, at, throttled=False)


def _purchases(engine: Engine) -> list[tuple[str, Decimal, str, Decimal, int]]:
    """Each top-up purchase: invoice status and total, grant status, crossing, in order."""
    with Session(engine) as session:
        rows = session.exec(
            select(CreditGrant, Invoice)
            .join(Invoice, col(Invoice.id) == col(CreditGrant.purchase_invoice_id))
            .order_by(col(Invoice.number))
        ).all()
        assert ledger.invariant_violations(session) == []
        assert all(invoice.kind == InvoiceKind.CREDIT_PURCHASE for _, invoice in rows)
        return [
            (
                invoice.status,
                invoice.total,
                grant.status,
                grant.remaining,
                grant.details["auto_top_up_crossing"],
            )
            for grant, invoice in rows
        ]


def _top_up(engine: Engine, customer_id: str) -> tuple[bool, int]:
    with Session(engine) as session:
        found = session.get(AutoTopUp, customer_id)
        assert found is not None
        return found.armed, found.crossing


def _announced(engine: Engine) -> list[tuple[str, Any]]:
    return [(payload(d)["type"], payload(d)["data"]) for d in deliveries(engine)]


def test_an_uncollectible_purchase_is_voided_and_the_top_up_buys_again(
    engine: Engine, settings: Settings, fake_stripe: FakeStripe
) -> None:
    billed = _customer(engine, fake_stripe, "pm_card_chargeCustomerFail")
    set_schedule(engine, billed.vendor_id, [3])  # one retry, three days after the first failure
    [first] = _check(engine, billed)
    assert _top_up(engine, billed.customer_id) == (False, 1)

    synced = NOW + timedelta(minutes=1)
    sync_due(engine, settings, now=synced)  # declined: retried in three days
    assert _purchases(engine) == [
        ("payment_failed", Decimal("95.00"), "pending_payment", Decimal(0), 1)
    ]
    assert _check(engine, billed, NOW + timedelta(days=1)) == []  # still waiting on it
    assert _announced(engine) == []

    sync_due(engine, settings, now=synced + timedelta(days=3))  # the last retry fails

    assert _purchases(engine) == [("void", Decimal("95.00"), "voided", Decimal(0), 1)]
    assert _top_up(engine, billed.customer_id) == (True, 1)
    kinds = [kind for kind, _ in _announced(engine)]
    assert kinds == ["invoice.uncollectible", "credits.top_up_failed"]
    failed = _announced(engine)[1][1]
    assert (failed["grant"], failed["customer"], failed["crossing"]) == (first, "acme", 1)
    assert (failed["reason"], failed["amount"], failed["currency"]) == (
        "uncollectible",
        "100.00",
        "usd",
    )
    with Session(engine) as session:
        grant = session.get(CreditGrant, first)
        assert grant is not None
        invoice_id = grant.purchase_invoice_id or ""
    # Stripe's copy was voided in the same pass: it can no longer be paid.
    remote = fake_stripe.client().v1.invoices.retrieve(
        invoice_row(engine, invoice_id).stripe_invoice_id or ""
    )
    assert remote.status == "void"

    # The next check buys again (a new crossing); the failed one stays void.
    [second] = _check(engine, billed, NOW + timedelta(days=3, minutes=2))
    assert second != first
    assert _purchases(engine) == [
        ("void", Decimal("95.00"), "voided", Decimal(0), 1),
        ("issued", Decimal("95.00"), "pending_payment", Decimal(0), 2),
    ]
    assert _top_up(engine, billed.customer_id) == (False, 2)
    # Seen again, the same drop buys nothing more.
    assert _check(engine, billed, NOW + timedelta(days=3, minutes=3)) == []
    assert [kind for kind, _ in _announced(engine)].count("credits.top_up_failed") == 1


def test_a_voided_purchase_rearms_once_and_an_older_failure_never_does(
    engine: Engine, fake_stripe: FakeStripe
) -> None:
    billed = _customer(engine, fake_stripe, "pm_card_visa")
    [first] = _check(engine, billed)
    with Session(engine) as session:
        grant = session.get(CreditGrant, first)
        assert grant is not None
        assert lifecycle.void(session, grant.purchase_invoice_id or "", NOW)
        session.commit()
    assert _top_up(engine, billed.customer_id) == (True, 1)
    [(kind, data)] = _announced(engine)
    assert (kind, data["reason"], data["crossing"]) == ("credits.top_up_failed", "void", 1)

    assert len(_check(engine, billed, NOW + timedelta(minutes=1))) == 1
    assert _top_up(engine, billed.customer_id) == (False, 2)
    with Session(engine) as session:
        old = session.get(CreditGrant, first)
        assert old is not None
        # The first purchase's failure, told again, re-arms nothing: the second is live.
        assert activation.rearm(session, old, "uncollectible") is False
        session.commit()
    assert _top_up(engine, billed.customer_id) == (False, 2)
    assert _check(engine, billed, NOW + timedelta(minutes=2)) == []
    assert _purchases(engine) == [
        ("void", Decimal("95.00"), "voided", Decimal(0), 1),
        ("issued", Decimal("95.00"), "pending_payment", Decimal(0), 2),
    ]
    assert len(_announced(engine)) == 1
