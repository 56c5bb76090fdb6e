"""What the browser tests look at, put in the way a vendor does it: through the HTTP API.

The vendor is made by the service (there is no signup API), the plan is uploaded, customers
are created and subscribed from the start of last month, events go through the signed
webhook, and last month is closed by the same service the close job runs, at its close
instant: each customer then has one issued invoice and an open period with settled,
pending, reversed and duplicate outcomes.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.engine import Engine

from metering.billing.invoices.close import close_due
from pricing_rules.periods import Period, period_containing
from tests.metering.conftest import VendorFixture
from tests.metering.platform.api.support import signed_headers

PLAN = "portal-agent"
RULES = f"""\
plan: {PLAN}
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
      properties.channel: {{in: [chat, email]}}
      properties.handled_by: {{eq: ai}}
    unique_by: properties.conversation_id
    settle:
      after: 72h
      reversed_by: {{event: conversation.reopened, match: properties.conversation_id}}
    measure: count
    portal: {{show: [properties.channel, properties.topic]}}
charges:
  - name: Resolved conversations
    outcome: resolved_conversation
    model: graduated
    free_units: 1
    tiers:
      - {{up_to: 3, unit_price: "1.50"}}
      - {{up_to: null, unit_price: "0.99"}}
  - {{name: Platform fee, model: flat, price: "5.00"}}
minimum: "10.00"
"""
CLOSE_AFTER = timedelta(hours=72)
SETTLE_AFTER = timedelta(hours=72)
SECRET_NOTE = "internal-note-never-shown"
"""Put in every event's properties: the rule file does not show it, so no page may."""


def iso(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Months:
    """Last month (closed and invoiced) and this month (open), around the real now."""

    last: Period
    this: Period
    now: datetime

    @classmethod
    def around(cls, now: datetime) -> Months:
        this = period_containing(now, "month", "UTC")
        last = period_containing(this.start - timedelta(seconds=1), "month", "UTC")
        return cls(last, this, now.replace(microsecond=0))

    @property
    def close_last(self) -> datetime:
        return self.last.end + CLOSE_AFTER + timedelta(minutes=30)

    def in_last(self, days: int) -> datetime:
        return self.last.start + timedelta(days=days)

    def in_this(self, hours: int) -> datetime:
        """Hours into this month, never after now (the month may have begun a moment ago)."""
        return max(self.this.start, min(self.this.start + timedelta(hours=hours), self.now))

    def minutes_ago(self, minutes: int) -> datetime:
        """Inside this month's settle window whatever today's date: pending."""
        return max(self.this.start, self.now - timedelta(minutes=minutes))


def pending_now(months: Months, hours: int) -> bool:
    """Whether an outcome resolved `hours` into this month (the b events) is still inside its
    settle window: only in the first days of a month."""
    return months.in_this(hours) + SETTLE_AFTER > months.now


def resolved(
    customer: str, event_id: str, at: datetime, conversation: str, channel: str, topic: str
) -> dict[str, Any]:
    return {
        "id": f"{customer}-{event_id}",
        "type": "conversation.resolved",
        "customer": customer,
        "timestamp": iso(at),
        "properties": {
            "conversation_id": conversation,
            "channel": channel,
            "handled_by": "ai",
            "topic": topic,
            "agent_note": SECRET_NOTE,
        },
    }


def reopened(customer: str, event_id: str, at: datetime, conversation: str) -> dict[str, Any]:
    return {
        "id": f"{customer}-{event_id}",
        "type": "conversation.reopened",
        "customer": customer,
        "timestamp": iso(at),
        "properties": {"conversation_id": conversation},
    }


def last_month_events(customer: str, months: Months) -> list[dict[str, Any]]:
    """4 billable (the first free), 1 duplicate, 1 reversed, 1 on the phone (no outcome)."""
    at = months.in_last
    return [
        resolved(customer, "a1", at(2), "c-1", "chat", "billing"),
        resolved(customer, "a2", at(3), "c-2", "email", "shipping"),
        resolved(customer, "a2-again", at(4), "c-2", "chat", "shipping"),
        resolved(customer, "a3", at(5), "c-3", "chat", "refunds"),
        reopened(customer, "a3-reopen", at(6), "c-3"),
        resolved(customer, "a4", at(7), "c-4", "chat", "refunds"),
        resolved(customer, "a5", at(8), "c-5", "phone", "billing"),
        resolved(customer, "a6", at(9), "c-6", "email", "billing"),
    ]


def this_month_events(customer: str, months: Months) -> list[dict[str, Any]]:
    """Settled early in the month (when it is old enough), a reversal, a duplicate, and two
    resolved a few minutes ago (pending settlement)."""
    at = months.in_this
    return [
        resolved(customer, "b1", at(1), "c-11", "chat", "billing"),
        resolved(customer, "b2", at(2), "c-12", "email", "shipping"),
        resolved(customer, "b3", at(3), "c-13", "chat", "billing"),
        reopened(customer, "b3-reopen", at(4), "c-13"),
        resolved(customer, "b4", at(5), "c-12", "chat", "shipping"),
        resolved(customer, "b5", months.minutes_ago(20), "c-14", "chat", "refunds"),
        resolved(customer, "b6", months.minutes_ago(10), "c-15", "email", "billing"),
        resolved(customer, "b7", at(6), "c-16", "email", "refunds"),
        resolved(customer, "b8", at(7), "c-17", "chat", "billing"),
        resolved(customer, "b9", at(8), "c-18", "chat", "shipping"),
    ]


@dataclass
class VendorApi:
    """The vendor's side over HTTP: its keys and a client on the running service."""

    http: httpx.Client
    keys: VendorFixture

    def call(self, method: str, path: str, expect: int = 200, **options: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.keys.api_key}", **options.pop("headers", {})}
        response = self.http.request(method, path, headers=headers, **options)
        assert response.status_code == expect, f"{method} {path}: {response.text}"
        return response.json()

    def get(self, path: str) -> Any:
        return self.call("GET", path)

    def send(self, events: list[dict[str, Any]]) -> None:
        """POST a batch to the signed webhook, as the vendor's sender does."""
        body = json.dumps({"events": events})
        headers = signed_headers(self.keys.signing_secret, body, msg_id=f"msg_{uuid.uuid4().hex}")
        response = self.http.post(
            f"/v1/webhooks/{self.keys.id}/events", content=body, headers=headers
        )
        assert response.status_code == 200, response.text
        assert response.json()["rejected"] == [], response.text

    def upload_plan(self) -> None:
        self.call(
            "POST", "/v1/plans", 201, content=RULES, headers={"Content-Type": "application/yaml"}
        )

    def new_customer(
        self, external_id: str, name: str, since: datetime, locale: str = "en_US"
    ) -> str:
        """A customer subscribed to the plan from `since`; its id."""
        customer = self.call(
            "POST",
            "/v1/customers",
            201,
            json={
                "external_id": external_id,
                "name": name,
                "email": f"{external_id}@example.com",
                "locale": locale,
            },
        )
        customer_id: str = customer["id"]
        self.call(
            "POST",
            f"/v1/customers/{customer_id}/plan",
            json={"plan": PLAN, "starts_at": iso(since)},
        )
        return customer_id

    def upcoming(self, customer_id: str) -> dict[str, Any]:
        upcoming: dict[str, Any] = self.get(f"/v1/customers/{customer_id}/upcoming_invoice")
        return upcoming

    def invoices(self, customer_id: str) -> list[dict[str, Any]]:
        """The customer's invoices with their lines, oldest first."""
        listed = self.get(f"/v1/invoices?customer={customer_id}")["data"]
        return [self.get(f"/v1/invoices/{invoice['id']}") for invoice in listed]

    def line_outcomes(self, invoice: dict[str, Any], line: dict[str, Any]) -> list[dict[str, Any]]:
        """The outcome rows behind an invoice line, as the API lists them."""
        page = self.get(f"/v1/invoices/{invoice['id']}/lines/{line['id']}/outcomes?limit=100")
        rows: list[dict[str, Any]] = page["data"]
        return rows

    def disputes(self, status: str | None = None) -> list[dict[str, Any]]:
        query = f"?status={status}&limit=100" if status else "?limit=100"
        rows: list[dict[str, Any]] = self.get(f"/v1/disputes{query}")["data"]
        return rows

    def portal_link(self, customer_id: str, return_url: str | None = None) -> str:
        """A fresh single-use portal link for the customer."""
        body = {"customer": customer_id, "return_url": return_url}
        created = self.call("POST", "/v1/portal_sessions", 201, json=body)
        url: str = created["url"]
        return url


@dataclass(frozen=True)
class Seeded:
    """The customers every test can read (no test changes them)."""

    months: Months
    acme: str
    globex: str


def invoiced_customer(
    api: VendorApi,
    engine: Engine,
    months: Months,
    external_id: str,
    name: str,
    sent: int = 99,
    more_last_month: int = 0,
) -> str:
    """A customer since the start of last month, its last month closed (one invoice, with
    `more_last_month` more conversations than the usual ones) and the first `sent` of this
    month's events sent; its id."""
    customer_id = api.new_customer(external_id, name, months.last.start)
    more = [
        resolved(external_id, f"a-more-{n}", months.in_last(10 + n), f"c-more-{n}", "chat", "sales")
        for n in range(more_last_month)
    ]
    api.send(last_month_events(external_id, months) + more)
    close_due(engine, now=months.close_last, customer_id=customer_id)
    if sent:
        api.send(this_month_events(external_id, months)[:sent])
    return customer_id


def seed(api: VendorApi, engine: Engine) -> Seeded:
    months = Months.around(datetime.now(UTC))
    api.upload_plan()
    acme = invoiced_customer(api, engine, months, "acme", "Acme Corp")
    globex = invoiced_customer(api, engine, months, "globex", "Globex Inc", sent=2)
    return Seeded(months, acme, globex)
