"""One customer through two billing periods, driven the way a vendor drives the service.

What a user does goes through HTTP: the plan upload, the customer and its subscription,
events through the signed webhook, voiding an event, invoices with their lines and the
outcomes behind a line, the upcoming invoice, Stripe's webhook, and the vendor's own
webhook endpoint (a real receiver on localhost that verifies every delivery with
`standardwebhooks`). What runs as a job in production (closing periods, the Stripe sync,
webhook deliveries) is called directly at the time the job would run. Stripe is the
localstripe harness, a real process; the databases are a fresh SQLite file and a fresh
PostgreSQL database.

Month A is last month and month B this one: the upcoming invoice is priced as of the real
now, so B has to be the month we are in; each month is closed at its close instant. Every
amount is checked to the cent, and against `metering rules price` on the same events.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from metering.billing.invoices.close import close_due
from metering.platform.settings import Settings
from metering.surfaces.app import create_app
from metering.surfaces.cli.main import app as cli
from metering.surfaces.providers import sync_due
from pricing_rules.periods import Period
from tests.metering.conftest import create_vendor
from tests.metering.notify.webhooks.receiver import Receiver, running
from tests.metering.providers.stripe.conftest import sync_settings
from tests.scenarios.story import Months, VendorSide, deliver, iso
from tests.stripe_fake.harness import API_KEY, FakeStripe

# Graduated with a free unit, a 72-hour settle window with reversals, a flat fee, a minimum.
RULES = """\
plan: scenario-agent
version: 1
currency: usd
billing:
  interval: month
  timezone: UTC
  close_after: 72h
outcomes:
  resolved_conversation:
    event: conversation.resolved
    where:
      properties.channel: {in: [chat, email]}
      properties.handled_by: {eq: ai}
    unique_by: properties.conversation_id
    settle:
      after: 72h
      reversed_by: {event: conversation.reopened, match: properties.conversation_id}
    measure: count
charges:
  - name: Resolved conversations
    outcome: resolved_conversation
    model: graduated
    free_units: 1
    tiers:
      - {up_to: 3, unit_price: "1.50"}
      - {up_to: null, unit_price: "0.99"}
  - {name: Platform fee, model: flat, price: "5.00"}
minimum: "10.00"
"""
CLOSE_AFTER = timedelta(hours=72)
SETTLE_AFTER = timedelta(hours=72)
STRIPE_WEBHOOK_SECRET = "whsec_scenario"
CONVERSATIONS = "Resolved conversations"

Line = tuple[str, str, str | None, str]
"""What a reader sees on a line: kind, description, quantity, amount."""


def resolved(
    event_id: str, at: datetime, conversation: str, channel: str = "chat"
) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "conversation.resolved",
        "customer": "acme",
        "timestamp": iso(at),
        "properties": {"conversation_id": conversation, "channel": channel, "handled_by": "ai"},
    }


def reopened(event_id: str, at: datetime, conversation: str) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "conversation.reopened",
        "customer": "acme",
        "timestamp": iso(at),
        "properties": {"conversation_id": conversation},
    }


@dataclass
class Vendor(VendorSide):
    """The vendor's side, keeping the events it sent (for the core's price)."""

    sent: list[dict[str, Any]] = field(default_factory=list)
    voided: set[str] = field(default_factory=set)

    def send(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        result = super().send(events)
        self.sent.extend(event for event in events if event not in self.sent)
        return result

    def statuses(self, *event_ids: str) -> dict[str, str]:
        return {event_id: self.get(f"/v1/events/{event_id}")["status"] for event_id in event_ids}

    def unvoided(self) -> list[dict[str, Any]]:
        return [event for event in self.sent if event["id"] not in self.voided]


def shown(lines: list[dict[str, Any]], period: Period | None = None) -> list[Line]:
    """The lines (of `period` only, if given) as a reader sees them."""
    return [
        (line["kind"], line["description"], line["quantity"], line["amount"])
        for line in lines
        if period is None or line["period_start"] == iso(period.start)
    ]


def amounts(lines: list[dict[str, Any]]) -> Decimal:
    return sum((Decimal(line["amount"]) for line in lines), Decimal(0))


def core_price(
    tmp_path: Path, events: list[dict[str, Any]], period: Period, as_of: datetime
) -> dict[str, Any]:
    """`metering rules price --json` of the same events: the customer's lines and total."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    events_file = tmp_path / "events.jsonl"
    events_file.write_text("".join(json.dumps(event) + "\n" for event in events))
    result = CliRunner().invoke(
        cli,
        [
            *("rules", "price", str(rules), "--events", str(events_file)),
            *("--period", period.label, "--as-of", iso(as_of), "--json"),
        ],
    )
    assert result.exit_code == 0, result.output
    customers = json.loads(result.output)["customers"]
    assert [customer["customer"] for customer in customers] == ["acme"]
    priced: dict[str, Any] = customers[0]
    return priced


def core_lines(priced: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(line["charge"], line["quantity"], line["amount"]) for line in priced["lines"]]


def charge_lines(lines: list[Line]) -> list[tuple[str, str, str]]:
    """Charge, minimum and cap lines as the core prints them (no corrections)."""
    return [(description, quantity or "", amount) for _, description, quantity, amount in lines]


def stripe_side(fake: FakeStripe, stripe_id: str) -> tuple[str, int, list[tuple[str, int]]]:
    """Stripe's status, total and items (description, amount) of an invoice, in cents."""
    client = fake.client()
    found = client.v1.invoices.retrieve(stripe_id)
    items = client.v1.invoices.line_items.list(stripe_id, {"limit": 100}).data
    listed = sorted((str(item.description), int(item.amount)) for item in items)
    return str(found.status), int(found.total), listed


def our_items(invoice: dict[str, Any]) -> list[tuple[str, int]]:
    return sorted(
        (line["description"], int(Decimal(line["amount"]).scaleb(2))) for line in invoice["lines"]
    )


def stripe_events(fake: FakeStripe, event_type: str) -> list[bytes]:
    """Stripe's own events of a type, as the raw JSON its webhook delivery would POST."""
    listed = fake.http.get(
        f"{fake.url}/v1/events",
        params={"type": event_type},
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    listed.raise_for_status()
    return [json.dumps(event).encode() for event in listed.json()["data"]]


def deliver_from_stripe(http: TestClient, payload: bytes) -> dict[str, Any]:
    """POST as Stripe does: `Stripe-Signature: t=<unix time>,v1=<HMAC-SHA256 of "t.body">`
    with the endpoint's secret."""
    stamp = int(time.time())
    digest = hmac.new(
        STRIPE_WEBHOOK_SECRET.encode(), f"{stamp}.".encode() + payload, hashlib.sha256
    )
    headers = {
        "Stripe-Signature": f"t={stamp},v1={digest.hexdigest()}",
        "Content-Type": "application/json",
    }
    response = http.post("/v1/stripe/webhook", content=payload, headers=headers)
    assert response.status_code == 200, response.text
    receipt: dict[str, Any] = response.json()
    return receipt


def invoice_events(receiver: Receiver) -> list[tuple[str, str, str, str]]:
    """What the receiver got, in order: type, invoice, its status and total."""
    return [
        (
            got.body["type"],
            got.body["data"]["invoice"],
            got.body["data"]["status"],
            got.body["data"]["total"],
        )
        for got in receiver.received
    ]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running(Receiver()) as started:
        yield started


@pytest.fixture
def settings(engine: Engine, database_url: str, fake_stripe: FakeStripe) -> Settings:
    return sync_settings(database_url, fake_stripe.url, stripe_webhook_secret=STRIPE_WEBHOOK_SECRET)


@pytest.fixture
def vendor(engine: Engine, settings: Settings) -> Iterator[Vendor]:
    with TestClient(create_app(settings)) as http:
        yield Vendor(http, create_vendor(engine, "Acme AI"))


def test_a_customer_through_two_billing_periods(
    engine: Engine,
    settings: Settings,
    vendor: Vendor,
    fake_stripe: FakeStripe,
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    months = Months.around(datetime.now(UTC), CLOSE_AFTER)

    # 1. The vendor's endpoint for invoice events; the plan uploaded, the customer created
    # and subscribed from the start of month A. It pays by invoice (`send_invoice`), so its
    # payment comes back by Stripe's webhook.
    endpoint = vendor.call(
        "POST",
        "/v1/webhook_endpoints",
        201,
        json={"url": receiver.url, "event_types": ["invoice.issued", "invoice.paid"]},
    )
    receiver.secrets = [endpoint["secret"]]
    uploaded = vendor.call(
        "POST", "/v1/plans", 201, content=RULES, headers={"Content-Type": "application/yaml"}
    )
    assert (uploaded["plan"], uploaded["version"]) == ("scenario-agent", 1)
    customer = vendor.call(
        "POST",
        "/v1/customers",
        201,
        json={
            "external_id": "acme",
            "name": "Acme Corp",
            "email": "billing@acme.test",
            "collection_method": "send_invoice",
            "days_until_due": 14,
        },
    )
    customer_id = customer["id"]
    subscribed = vendor.call(
        "POST",
        f"/v1/customers/{customer_id}/plan",
        json={"plan": "scenario-agent", "starts_at": iso(months.a.start)},
    )
    assert subscribed["plan"] == "scenario-agent"
    assert (subscribed["subscription"]["version"], subscribed["subscription"]["starts_at"]) == (
        1,
        iso(months.a.start),
    )

    # 2. Month A's events through the signed webhook; the second batch is delivered twice.
    first = [
        resolved("evt-a1", months.in_a(2), "c-1"),
        resolved("evt-a2", months.in_a(3), "c-2", channel="email"),
        resolved("evt-a2-again", months.in_a(4), "c-2"),  # the same conversation again
        resolved("evt-a3", months.in_a(5), "c-3"),
        reopened("evt-a3-reopen", months.in_a(6), "c-3"),
        resolved("evt-a4", months.in_a(7), "c-4", channel="phone"),  # excluded by `where`
    ]
    second = [
        resolved("evt-a5", months.in_a(8), "c-5"),
        resolved("evt-a6", months.in_a(10), "c-6"),
        resolved("evt-a7", months.in_a(12), "c-7"),
        resolved("evt-a8", months.in_a(14), "c-8"),
    ]
    assert vendor.send(first)["accepted"] == 6
    assert vendor.send(second)["accepted"] == 4
    retried = vendor.send(second)
    assert (retried["accepted"], retried["duplicates"]) == (0, 4)
    assert vendor.statuses("evt-a1", "evt-a2-again", "evt-a3", "evt-a3-reopen", "evt-a4") == {
        "evt-a1": "counted",
        "evt-a2-again": "duplicate",
        "evt-a3": "reversed",
        "evt-a3-reopen": "reversal",
        "evt-a4": "unmatched",
    }

    # 3. Month A closes: c-1, c-2, c-5..c-8 settled; 1 free, 3 x 1.50, 2 x 0.99.
    closed = close_due(engine, now=months.close_a)
    assert [(invoice.number, invoice.total) for invoice in closed.invoices] == [
        (1, Decimal("11.48"))
    ]
    (one,) = vendor.invoices(customer_id)
    assert (one["number"], one["status"], one["total"]) == (1, "issued", "11.48")
    assert (one["period_start"], one["period_end"]) == (iso(months.a.start), iso(months.a.end))
    assert one["as_of"] == iso(months.a.end + CLOSE_AFTER)
    assert one["due_at"] == iso(months.close_a + timedelta(days=14))
    assert shown(one["lines"]) == [
        ("charge", CONVERSATIONS, "6", "6.48"),
        ("charge", "Platform fee", "1", "5.00"),
    ]
    assert one["lines"][0]["detail"]["text"] == "6 units, 1 free, graduated"
    assert [(tier["units"], tier["amount"]) for tier in one["lines"][0]["detail"]["tiers"]] == [
        ("3", "4.5"),
        ("2", "1.98"),
    ]
    assert vendor.line_events(one, one["lines"][0]) == {
        event: "counted" for event in ("evt-a1", "evt-a2", "evt-a5", "evt-a6", "evt-a7", "evt-a8")
    }
    core_a = core_price(tmp_path, vendor.sent, months.a, months.close_a)
    assert charge_lines(shown(one["lines"])) == core_lines(core_a)
    assert one["total"] == core_a["total"]
    deliver(engine, settings)
    assert invoice_events(receiver) == [("invoice.issued", one["id"], "issued", "11.48")]

    # 4. Stripe: the invoice is made and sent there; the customer pays; Stripe says so twice.
    assert sync_due(engine, settings, now=months.close_a).count("done") == 1
    (one,) = vendor.invoices(customer_id)
    assert (one["status"], one["sync_state"], one["sync_error"]) == ("issued", "finalized", None)
    assert stripe_side(fake_stripe, one["stripe_invoice_id"]) == ("open", 1148, our_items(one))
    fake_stripe.client().v1.invoices.pay(one["stripe_invoice_id"], {"paid_out_of_band": True})
    (paid_event,) = stripe_events(fake_stripe, "invoice.paid")
    receipts = [deliver_from_stripe(vendor.http, paid_event) for _ in range(2)]
    assert [(r["applied"], r["duplicate"]) for r in receipts] == [(True, False), (False, True)]
    assert receipts[0]["invoice_id"] == one["id"]
    (one,) = vendor.invoices(customer_id)
    assert (one["status"], one["sync_state"], one["total"]) == ("paid", "paid", "11.48")
    assert one["paid_at"] is not None
    assert stripe_side(fake_stripe, one["stripe_invoice_id"])[:2] == ("paid", 1148)

    # The vendor's endpoint heard of it once (Stripe's repeat changed nothing), signed.
    deliver(engine, settings)
    assert invoice_events(receiver) == [
        ("invoice.issued", one["id"], "issued", "11.48"),
        ("invoice.paid", one["id"], "paid", "11.48"),
    ]
    assert receiver.received[1].body["data"]["paid_at"] == one["paid_at"]
    assert all(got.verified for got in receiver.received)
    assert len({got.webhook_id for got in receiver.received}) == 2

    # 5. After the invoice: c-5 reopened, c-6's event voided, c-9 of month A arrives late;
    # then month B's events.
    vendor.send([reopened("evt-a5-reopen", months.in_b(10), "c-5")])
    voided = vendor.call(
        "POST", "/v1/events/evt-a6/void", json={"reason": "test traffic sent by mistake"}
    )
    assert (voided["status"], voided["outcomes"][0]["state"]) == ("voided", "voided")
    vendor.voided.add("evt-a6")
    vendor.send([resolved("evt-a9", months.in_a(20), "c-9")])
    month_b = [
        resolved("evt-b1", months.in_b(20), "c-b1"),
        resolved("evt-b2", months.just_now(), "c-b2"),
    ]
    vendor.send(month_b)
    assert vendor.statuses("evt-a5", "evt-a5-reopen", "evt-a6", "evt-a9") == {
        "evt-a5": "reversed",
        "evt-a5-reopen": "reversal",
        "evt-a6": "voided",
        "evt-a9": "counted",
    }

    # 6. The upcoming invoice, during month B: live lines as the core prices B now, the
    # conversations still in their settle window apart (c-b2 always; c-b1 in the first three
    # days of a month), and the corrections of month A the close will add.
    upcoming = vendor.get(f"/v1/customers/{customer_id}/upcoming_invoice")
    assert (upcoming["period_start"], upcoming["period_end"]) == (
        iso(months.b.start),
        iso(months.b.end),
    )
    assert upcoming["closes_at"] == iso(months.b.end + CLOSE_AFTER)
    as_of = datetime.fromisoformat(upcoming["as_of"])
    core_now = core_price(tmp_path, vendor.unvoided(), months.b, as_of)
    assert charge_lines(shown(upcoming["lines"])) == core_lines(core_now)
    settling = sorted(
        settles
        for event in month_b
        if (settles := datetime.fromisoformat(event["timestamp"]) + SETTLE_AFTER) > as_of
    )
    assert upcoming["pending"] == [
        {
            "outcome": "resolved_conversation",
            "count": len(settling),
            "next_settles_at": iso(settling[0]),
        }
    ]
    pending = len(settling)
    assert pending == core_now["pending"]["resolved_conversation"]
    corrections = shown(upcoming["corrections"])
    assert upcoming["total"] == str(amounts(upcoming["lines"]) + amounts(upcoming["corrections"]))

    # 7. Month B closes: invoice 2 bills B and corrects A. Without c-5 and c-6 the 4 kept
    # conversations cost 4.50 (2 x 0.99 less) and fall under the minimum (+0.50); c-9 adds
    # a conversation at 0.99 and lifts the total above the minimum again (-0.50).
    closed = close_due(engine, now=months.close_b)
    assert [(invoice.number, invoice.total) for invoice in closed.invoices] == [
        (2, Decimal("9.01"))
    ]
    one_again, two = vendor.invoices(customer_id)
    assert one_again == one
    label = f"Adjustment for {months.a.label}"
    credit = "Correction of invoice #1"
    assert (two["number"], two["status"], two["total"]) == (2, "issued", "9.01")
    assert shown(two["lines"], months.b) == [
        ("charge", CONVERSATIONS, "2", "1.50"),
        ("charge", "Platform fee", "1", "5.00"),
        ("minimum", "Minimum spend true-up", "1", "3.50"),
    ]
    assert shown(two["lines"], months.a) == [
        ("credit", f"{credit}: {CONVERSATIONS}", "-2", "-1.98"),
        ("adjustment", f"{label}: {CONVERSATIONS}", "1", "0.99"),
    ]  # the minimum's +0.50 (after the credit) and -0.50 (after the adjustment) net out
    corrected = [line for line in two["lines"] if line["period_start"] == iso(months.a.start)]
    assert {line["corrects_invoice_id"] for line in corrected} == {one["id"]}
    assert [vendor.line_events(two, line) for line in corrected] == [
        {"evt-a5": "reversed", "evt-a6": "voided"},
        {"evt-a9": "counted"},
    ]
    assert vendor.line_events(two, two["lines"][0]) == {"evt-b1": "counted", "evt-b2": "counted"}

    # The core agrees: month B as of its close, and month A over both invoices as of the
    # second close (the voided event left out, as it is out of rating).
    core_b = core_price(tmp_path, vendor.unvoided(), months.b, months.close_b)
    assert charge_lines(shown(two["lines"], months.b)) == core_lines(core_b)
    core_a = core_price(tmp_path, vendor.unvoided(), months.a, months.close_b)
    assert core_a["total"] == "10.49"
    billed_a = [
        line
        for invoice in (one, two)
        for line in invoice["lines"]
        if line["period_start"] == iso(months.a.start)
    ]
    assert amounts(billed_a) == Decimal(core_a["total"])

    # The upcoming invoice said so: same corrections; its live lines plus the pending ones
    # are what the close billed.
    assert corrections == shown(two["lines"], months.a)
    quantities = {line["description"]: line["quantity"] for line in upcoming["lines"]}
    assert Decimal(quantities[CONVERSATIONS]) + pending == Decimal(two["lines"][0]["quantity"])
    assert [line["outcome_count"] for line in upcoming["corrections"]] == [
        line["outcome_count"] for line in corrected
    ]

    # Closing again changes nothing; Stripe gets invoice 2 with its negative credit item.
    assert close_due(engine, now=months.close_b).invoices == []
    assert sync_due(engine, settings, now=months.close_b).count("done") == 1
    one_again, two = vendor.invoices(customer_id)
    assert one_again == one
    assert (two["status"], two["sync_state"], two["sync_error"]) == ("issued", "finalized", None)
    assert stripe_side(fake_stripe, two["stripe_invoice_id"]) == ("open", 901, our_items(two))
    assert ("Correction of invoice #1: Resolved conversations", -198) in our_items(two)
