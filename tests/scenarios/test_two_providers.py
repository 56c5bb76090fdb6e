"""The same two billing periods through both payment providers, and through a customer who
moves from one to the other: the same invoices to the cent, whoever collects them.

Three customers of one vendor send the same events: one collected by Stripe (the localstripe
harness, a real process), one collected manually, one that starts manual and moves to Stripe
before the second period closes. Each pays by bank transfer, recorded through the API; for
the Stripe invoices the sync then marks Stripe's copy paid out of band. Billing code never
asks who collects: only the payment links differ.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from metering.billing.invoices.close import close_due
from metering.platform.settings import Settings
from metering.surfaces.app import create_app
from metering.surfaces.providers import sync_due
from tests.metering.conftest import create_vendor
from tests.metering.providers.stripe.conftest import sync_settings
from tests.scenarios.story import Months, VendorSide, iso
from tests.scenarios.test_two_billing_periods import CLOSE_AFTER, RULES
from tests.stripe_fake.harness import FakeStripe

CUSTOMERS = {"acme-stripe": "stripe", "acme-manual": "manual", "acme-mover": "manual"}


def resolved(customer: str, n: str, at: datetime, channel: str = "chat") -> dict[str, Any]:
    return {
        "id": f"{customer}-r{n}",
        "type": "conversation.resolved",
        "customer": customer,
        "timestamp": iso(at),
        "properties": {"conversation_id": f"c-{n}", "channel": channel, "handled_by": "ai"},
    }


def reopened(customer: str, n: str, at: datetime) -> dict[str, Any]:
    return {
        "id": f"{customer}-o{n}",
        "type": "conversation.reopened",
        "customer": customer,
        "timestamp": iso(at),
        "properties": {"conversation_id": f"c-{n}"},
    }


def cents(amount: str) -> int:
    return int(Decimal(amount).scaleb(2))


def seen(invoice: dict[str, Any]) -> tuple[Any, ...]:
    """An invoice as its reader sees it, whoever collects it; invoice numbers aside (they
    count per vendor, so a credit names #1, #2 or #3)."""
    lines = tuple(
        (
            line["kind"],
            re.sub(r"#\d+", "#N", line["description"]),
            line["quantity"],
            line["amount"],
            line["period_start"],
        )
        for line in invoice["lines"]
    )
    return (invoice["period_start"], invoice["total"], invoice["status"], lines)


@pytest.fixture
def settings(engine: Engine, database_url: str, fake_stripe: FakeStripe) -> Settings:
    return sync_settings(database_url, fake_stripe.url)


@pytest.fixture
def vendor(engine: Engine, settings: Settings) -> Iterator[VendorSide]:
    with TestClient(create_app(settings)) as http:
        yield VendorSide(http, create_vendor(engine, "Acme AI"))


def pay_in_full(vendor: VendorSide, invoice: dict[str, Any], reference: str) -> dict[str, Any]:
    paid = vendor.call(
        "POST",
        f"/v1/invoices/{invoice['id']}/payments",
        201,
        json={"amount": invoice["amount_due"], "paid_on": "2026-01-02", "reference": reference},
    )
    return dict(paid["invoice"])


def test_the_same_two_periods_through_stripe_and_manual(
    engine: Engine, settings: Settings, vendor: VendorSide, fake_stripe: FakeStripe
) -> None:
    months = Months.around(datetime.now(UTC), CLOSE_AFTER)
    vendor.call(
        "POST", "/v1/plans", 201, content=RULES, headers={"Content-Type": "application/yaml"}
    )
    ids = {}
    for external_id, provider in CUSTOMERS.items():
        made = vendor.call(
            "POST",
            "/v1/customers",
            201,
            json={
                "external_id": external_id,
                "name": "Acme Corp",
                "collection_method": "send_invoice",
                "days_until_due": 14,
                "payment_provider": provider,
            },
        )
        ids[external_id] = made["id"]
        vendor.call(
            "POST",
            f"/v1/customers/{made['id']}/plan",
            json={"plan": "scenario-agent", "starts_at": iso(months.a.start)},
        )

    # Month A: the same six conversations (one twice, one reopened, one by phone) each.
    for customer in CUSTOMERS:
        vendor.send(
            [
                resolved(customer, "1", months.in_a(2)),
                resolved(customer, "2", months.in_a(3), channel="email"),
                resolved(customer, "3", months.in_a(5)),
                reopened(customer, "3", months.in_a(6)),
                resolved(customer, "4", months.in_a(7), channel="phone"),
                *(resolved(customer, str(n), months.in_a(n + 3)) for n in range(5, 10)),
            ]
        )
    close_due(engine, now=months.close_a)
    assert sync_due(engine, settings, now=months.close_a).count("done") == 3

    firsts = {customer: vendor.invoices(ids[customer])[0] for customer in CUSTOMERS}
    assert {seen(invoice) for invoice in firsts.values()} == {seen(firsts["acme-manual"])}
    assert firsts["acme-manual"]["total"] == "12.47"
    providers = {c: (i["payment_provider"], i["sync_state"]) for c, i in firsts.items()}
    assert providers == {
        "acme-stripe": ("stripe", "finalized"),
        "acme-manual": ("manual", "finalized"),
        "acme-mover": ("manual", "finalized"),
    }
    stripe_a = fake_stripe.client().v1.invoices.retrieve(firsts["acme-stripe"]["stripe_invoice_id"])
    assert (stripe_a.status, stripe_a.total) == ("open", 1247)
    assert firsts["acme-manual"]["stripe_invoice_id"] is None

    # Each pays by bank transfer; Stripe's copy of the Stripe one is then paid out of band.
    for customer, invoice in firsts.items():
        paid = pay_in_full(vendor, invoice, f"{customer}-A")
        assert (paid["status"], paid["amount_paid"], paid["amount_due"]) == (
            "paid",
            "12.47",
            "0.00",
        )
    after_payments = months.after_api_calls(months.close_a + timedelta(hours=1))
    assert sync_due(engine, settings, now=after_payments).count("done") == 3
    stripe_a = fake_stripe.client().v1.invoices.retrieve(stripe_a.id)
    assert stripe_a.status == "paid"
    assert {vendor.invoices(ids[c])[0]["sync_state"] for c in CUSTOMERS} == {"paid"}

    # Month B: c-5 of A reopens (a credit on B's invoice), c-10 arrives late for A (an
    # adjustment), two conversations in B. The mover moves to Stripe.
    for customer in CUSTOMERS:
        vendor.send(
            [
                reopened(customer, "5", months.in_b(10)),
                resolved(customer, "10", months.in_a(20)),
                resolved(customer, "b1", months.in_b(20)),
                resolved(customer, "b2", months.just_now()),
            ]
        )
    moved = vendor.call(
        "PATCH", f"/v1/customers/{ids['acme-mover']}", json={"payment_provider": "stripe"}
    )
    assert moved["payment_provider"] == "stripe"
    close_due(engine, now=months.close_b)
    assert sync_due(engine, settings, now=months.close_b).count("done") == 3

    seconds = {customer: vendor.invoices(ids[customer])[1] for customer in CUSTOMERS}
    assert {seen(invoice) for invoice in seconds.values()} == {seen(seconds["acme-manual"])}
    kinds = [line["kind"] for line in seconds["acme-manual"]["lines"]]
    assert sorted(set(kinds)) == ["adjustment", "charge", "credit", "minimum"]
    for customer, invoice in seconds.items():  # each credit names the customer's own invoice
        corrected = {line["corrects_invoice_id"] for line in invoice["lines"]} - {None}
        assert corrected == {firsts[customer]["id"]}
    assert [(c, i["payment_provider"]) for c, i in seconds.items()] == [
        ("acme-stripe", "stripe"),
        ("acme-manual", "manual"),
        ("acme-mover", "stripe"),
    ]
    # The first invoices kept their provider; Stripe holds exactly ours for the others.
    assert vendor.invoices(ids["acme-mover"])[0]["payment_provider"] == "manual"
    for customer in ("acme-stripe", "acme-mover"):
        invoice = seconds[customer]
        remote = fake_stripe.client().v1.invoices.retrieve(invoice["stripe_invoice_id"])
        items = fake_stripe.client().v1.invoices.line_items.list(remote.id, {"limit": 100}).data
        assert (remote.status, remote.total) == ("open", cents(invoice["total"]))
        assert sorted((str(i.description), int(i.amount)) for i in items) == sorted(
            (line["description"], cents(line["amount"])) for line in invoice["lines"]
        )
    assert seconds["acme-manual"]["stripe_invoice_id"] is None
