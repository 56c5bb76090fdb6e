"""Workers killed mid-sync, and the check that what they left behind in Stripe is whole.

The worker is a real child process (forked, so it starts without importing everything
again); the harness SIGKILLs it when it sends its n-th Stripe request, either before Stripe
carries the request out or after (Stripe did it, the worker never heard back, so our commit
of that step never happened).
"""

from __future__ import annotations

import multiprocessing
import signal
from datetime import datetime, timedelta
from multiprocessing.connection import Connection

from sqlalchemy.engine import Engine

from metering.platform.db.engine import make_engine
from metering.platform.settings import Settings
from metering.surfaces.providers import sync_due
from tests.metering.billing.invoices.helpers import lines as line_rows
from tests.metering.providers.stripe.conftest import sync_settings
from tests.metering.providers.stripe.factory import NOW, invoice_row, stripe_items
from tests.stripe_fake.harness import FakeStripe


def worker(database_url: str, api_base: str, now: datetime, go: Connection) -> None:
    """The child: its own engine (nothing shared with the parent's pool), one sync pass."""
    go.recv()
    engine = make_engine(database_url)
    sync_due(engine, sync_settings(database_url, api_base), now=now)


def sync_killed_at(
    fake_stripe: FakeStripe, database_url: str, request_number: int, when: str, now: datetime = NOW
) -> list[str]:
    """Run a sync in a child process that dies at the given request; the requests seen."""
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=worker, args=(database_url, fake_stripe.url, now, receive))
    child.start()
    assert child.pid is not None
    fake_stripe.clear_requests()
    fake_stripe.kill(child.pid, request_number, when)
    send.send("go")
    child.join(timeout=60)
    assert child.exitcode == -signal.SIGKILL
    return [request["path"] for request in fake_stripe.requests()]


def resume(engine: Engine, settings: Settings, now: datetime = NOW) -> None:
    # The dead worker's lease holds until it expires (5 minutes), then another resumes.
    assert sync_due(engine, settings, now=now + timedelta(minutes=4)).results == []
    report = sync_due(engine, settings, now=now + timedelta(minutes=6))
    assert [result.outcome for result in report.results] == ["done"]


def assert_one_stripe_invoice(
    engine: Engine, fake_stripe: FakeStripe, invoice_id: str, stripe_customer: str
) -> None:
    """Stripe holds one invoice for ours, with exactly our lines, each item once."""
    invoice = invoice_row(engine, invoice_id)
    client = fake_stripe.client()
    listed = client.v1.invoices.list({"customer": stripe_customer, "limit": 100}).data
    assert [remote.id for remote in listed] == [invoice.stripe_invoice_id]
    remote = listed[0]
    lines = line_rows(engine, invoice_id)
    assert [
        (item.invoice_item, item.amount, item.metadata["metering_line_id"])
        for item in remote.lines.data
    ] == [
        (item, int(line.amount * 100), line.id)
        for item, line in zip(stripe_items(engine, lines), lines, strict=True)
    ]
    assert remote.total == int(invoice.total * 100)
    pending = client.v1.invoice_items.list({"customer": stripe_customer}).data
    assert pending == []  # no stray item made twice outside the invoice
