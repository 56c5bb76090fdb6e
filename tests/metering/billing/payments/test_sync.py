"""The provider-neutral sync with a provider kept in memory: the protocol is all it needs.

The Stripe tests (tests/metering/providers/stripe) drive the same sync against a real
Stripe fake; these check what is the sync's own, with no Stripe anywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.billing.invoices.models import Invoice, InvoiceStatus
from metering.billing.payments import links
from metering.billing.payments.models import SyncState
from metering.billing.payments.protocol import (
    Collection,
    Declined,
    Failure,
    FailureKind,
    Finalized,
    InvoiceSnapshot,
    LineSnapshot,
    Paid,
    PaymentProvider,
    ProviderEvent,
)
from metering.billing.payments.sync import SyncReport, SyncSettings, retry_sync, sync_due
from tests.metering.billing.invoices.helpers import lines, payment_link
from tests.metering.providers.stripe.factory import NOW, billing, invoice_row, issued_invoice

SETTINGS = SyncSettings(timedelta(minutes=5), timedelta(seconds=30), timedelta(minutes=10))
MEMORY = "memory"


class Unreachable(Exception):
    """The provider could not be reached (what its `failure` calls transient)."""


@dataclass
class MemoryProvider:
    """A provider whose objects are dict entries: it does what it is told, and records it."""

    name: str = "memory"
    label: str = "Memory"
    calls: list[str] = field(default_factory=list)
    declines: int = 0
    total_off: Decimal = Decimal(0)
    unreachable: int = 0

    def _call(self, what: str) -> None:
        if self.unreachable:
            self.unreachable -= 1
            raise Unreachable(f"{what}: connection refused")
        self.calls.append(what)

    def ensure_customer(self, invoice: InvoiceSnapshot, now: datetime) -> str:
        self._call("customer")
        return invoice.customer.provider_id or f"mc_{invoice.customer.external_id}"

    def create_invoice(self, invoice: InvoiceSnapshot, now: datetime) -> str:
        self._call("invoice")
        return f"mi_{invoice.number}"

    def add_item(self, invoice: InvoiceSnapshot, line: LineSnapshot, now: datetime) -> str:
        self._call(f"item {line.position}")
        return f"mt_{line.position}"

    def finalize(self, invoice: InvoiceSnapshot) -> Finalized:
        self._call("finalize")
        return Finalized(invoice.total + self.total_off, f"https://memory.test/{invoice.id}")

    def collect(self, invoice: InvoiceSnapshot) -> Collection:
        self._call("collect")
        if self.declines:
            self.declines -= 1
            return Declined("no payment method on file")
        return Paid(NOW + timedelta(minutes=1))

    def paid_elsewhere(self, invoice: InvoiceSnapshot) -> None:
        self._call("paid elsewhere")

    def void(self, invoice: InvoiceSnapshot) -> None:
        self._call("void")

    def failure(self, error: Exception) -> Failure | None:
        return (
            Failure(FailureKind.TRANSIENT, str(error)) if isinstance(error, Unreachable) else None
        )

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        raise NotImplementedError


def run(engine: Engine, provider: PaymentProvider, at: datetime = NOW) -> SyncReport:
    return sync_due(engine, provider, SETTINGS, now=at)


def test_an_invoice_goes_through_every_step_and_is_paid(engine: Engine) -> None:
    billed = billing(engine)
    invoice_id = issued_invoice(engine, billed, ["5.00", "-1.00"], provider=MEMORY)
    memory = MemoryProvider()

    report = run(engine, memory)

    assert [r.outcome for r in report.results] == ["done"]
    assert memory.calls == ["customer", "invoice", "item 1", "item 2", "finalize", "collect"]
    invoice = invoice_row(engine, invoice_id)
    assert (invoice.status, invoice.paid_at) == (InvoiceStatus.PAID, NOW + timedelta(minutes=1))
    link = payment_link(engine, invoice_id)
    assert (link.provider, link.external_id, link.step, link.next_attempt_at) == (
        "memory",
        "mi_1",
        SyncState.PAID,
        None,
    )
    assert link.hosted_url == f"https://memory.test/{invoice_id}"
    with Session(engine) as session:
        line_ids = [line.id for line in lines(engine, invoice_id)]
        items = links.item_ids(session, line_ids)
        assert [items[line_id] for line_id in line_ids] == ["mt_1", "mt_2"]
        assert links.customer_external_id(session, billed.customer_id, "memory") == "mc_acme"
    assert run(engine, memory, NOW + timedelta(days=1)).results == []  # nothing left to do


def test_a_declined_payment_fails_the_invoice_until_a_retry_pays_it(engine: Engine) -> None:
    invoice_id = issued_invoice(engine, billing(engine), ["5.00"], provider=MEMORY)
    memory = MemoryProvider(declines=1)

    run(engine, memory)

    invoice = invoice_row(engine, invoice_id)
    assert (invoice.status, invoice.sync_state, invoice.sync_error) == (
        InvoiceStatus.PAYMENT_FAILED,
        SyncState.FAILED,
        "no payment method on file",
    )
    assert invoice.next_sync_at == NOW + timedelta(days=3)  # the first scheduled retry
    later = NOW + timedelta(days=3)
    with Session(engine) as session:
        row = session.get(Invoice, invoice_id)
        assert row is not None
        retry_sync(session, row, later)
        session.commit()
    memory.calls.clear()

    run(engine, memory, later)

    assert memory.calls == ["collect"]
    assert invoice_row(engine, invoice_id).status == InvoiceStatus.PAID


def test_a_total_the_provider_disagrees_with_is_not_collected(engine: Engine) -> None:
    invoice_id = issued_invoice(engine, billing(engine), ["5.00"], provider=MEMORY)

    report = run(engine, MemoryProvider(total_off=Decimal("0.01")))

    assert [r.outcome for r in report.results] == ["error"]
    invoice = invoice_row(engine, invoice_id)
    assert (invoice.status, invoice.sync_state, invoice.next_sync_at) == (
        InvoiceStatus.ISSUED,
        SyncState.ITEMS_CREATED,
        None,
    )
    assert invoice.sync_error == (
        "Memory invoice mi_1 totals 5.01 usd, ours 5.00 usd: not collected; "
        "void the invoice once the difference is understood"
    )


def test_what_the_provider_calls_transient_comes_back_after_a_backoff(engine: Engine) -> None:
    invoice_id = issued_invoice(engine, billing(engine), ["5.00"], provider=MEMORY)

    report = run(engine, MemoryProvider(unreachable=1))

    assert [r.outcome for r in report.results] == ["retry"]
    invoice = invoice_row(engine, invoice_id)
    assert (invoice.sync_state, invoice.sync_attempts, invoice.sync_error) == (
        SyncState.NOT_STARTED,
        1,
        "customer: connection refused",
    )
    due = invoice.next_sync_at or NOW
    assert NOW + timedelta(seconds=15) <= due <= NOW + timedelta(seconds=30)


def test_a_provider_leaves_the_invoices_another_provider_took(engine: Engine) -> None:
    billed = billing(engine)
    taken = issued_invoice(engine, billed, ["5.00"], number=1, provider=None)
    free = issued_invoice(engine, billed, ["7.00"], number=2, period_start=NOW, provider=None)
    with Session(engine) as session:
        links.update(session, taken, provider="stripe")
        session.commit()

    report = run(engine, MemoryProvider())

    assert [r.invoice_id for r in report.results] == [free]
    assert invoice_row(engine, taken).status == InvoiceStatus.ISSUED
    assert [payment_link(engine, i).provider for i in (taken, free)] == ["stripe", "memory"]
