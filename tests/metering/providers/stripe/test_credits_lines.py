"""An invoice paid partly by prepaid credits, through the fake Stripe: each grant used is
its own negative line of kind `credits` naming the grant, on our invoice and on Stripe's
copy, so the two show the same drawdown and the same total."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from metering.billing.invoices.models import InvoiceLine, LineKind
from metering.platform.settings import Settings
from metering.surfaces.providers import sync_due
from tests.metering.providers.stripe.factory import NOW, billing, invoice_row, issued_invoice
from tests.stripe_fake.harness import FakeStripe


def test_each_grant_drawn_is_a_negative_line_on_the_stripe_copy(
    engine: Engine, settings: Settings, fake_stripe: FakeStripe
) -> None:
    billed = billing(engine, stripe_customer_id=fake_stripe.customer_with_card())
    # 80.00 of charges, 30.00 paid by the promotional grant, 20.00 by the paid one.
    invoice_id = issued_invoice(engine, billed, ["50.00", "30.00", "-30.00", "-20.00"])
    with Session(engine) as session:
        lines = session.exec(
            select(InvoiceLine)
            .where(InvoiceLine.invoice_id == invoice_id)
            .order_by(col(InvoiceLine.position))
        ).all()
        for line, name in zip(lines[2:], ["Welcome", "Starter pack"], strict=True):
            line.kind = LineKind.CREDITS.value
            line.charge_key = f"credits:grt_{name.lower().replace(' ', '_')}"
            line.description = f"Credits: {name}"
            line.outcome = None
            line.quantity = None
            line.period_start, line.period_end = lines[0].period_start, lines[0].period_end
            session.add(line)
        session.commit()

    report = sync_due(engine, settings, now=NOW)

    assert [r.outcome for r in report.results] == ["done"]
    state = invoice_row(engine, invoice_id)
    assert (state.status, state.total) == ("paid", Decimal("30.00"))
    remote = fake_stripe.client().v1.invoices.retrieve(state.stripe_invoice_id or "")
    assert [(item.amount, item.description) for item in remote.lines.data] == [
        (5000, "Line 1"),
        (3000, "Line 2"),
        (-3000, "Credits: Welcome"),
        (-2000, "Credits: Starter pack"),
    ]
    assert (remote.total, remote.amount_paid) == (3000, 3000)
