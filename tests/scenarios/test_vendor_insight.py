"""A vendor's insight into one month, driven the way a vendor and its customer drive it.

The plan prices tokens (`costs:`), has a notify-only `maximum` and shows the channel in the
portal. The vendor registers a real receiver on localhost (it verifies every delivery with
`standardwebhooks`) and a spend alert, then sends a month of model calls and resolutions
through the signed webhook. The jobs (alert evaluation, the close, webhook deliveries) are
called directly at the time they would run. Then the margin report, a simulation of the same
rules and of a price change, and a dispute filed through the portal form and accepted: the
next month's invoice credits it. Every amount is checked to the cent (costs exactly).

Month A is last month and month B this one, as in test_two_billing_periods.py; the portal
and the dispute answer happen at the real now, while A is closed.
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
from metering.notify.alerts.evaluation import evaluate
from metering.surfaces.app import create_app
from pricing_rules.periods import Period
from tests.metering.conftest import create_vendor, receiving_settings
from tests.metering.notify.webhooks.receiver import Received, Receiver, running
from tests.metering.surfaces.portal.helpers import csrf_of
from tests.scenarios.story import Months, VendorSide, deliver, iso

# Token prices per 1,000,000 tokens; 2.00 a resolved conversation and a 5.00 platform fee.
RULES = """\
plan: insight-agent
version: 1
currency: usd
billing:
  interval: month
  timezone: UTC
  close_after: 24h
costs:
  attribute_to: properties.conversation_id
  models:
    gpt-4o: {input: "2.50", output: "10.00"}
    small: {input: "0.15", output: "0.60"}
outcomes:
  resolved_conversation:
    event: conversation.resolved
    unique_by: properties.conversation_id
    measure: count
    portal: {show: [properties.channel]}
charges:
  - name: Resolved conversations
    outcome: resolved_conversation
    model: per_unit
    unit_price: "2.00"
  - {name: Platform fee, model: flat, price: "5.00"}
maximum: {amount: "500.00", on_reach: notify}
"""
PROPOSED = RULES.replace('unit_price: "2.00"', 'unit_price: "2.50"')
CLOSE_AFTER = timedelta(hours=24)
EVENT_TYPES = [
    "alert.triggered",
    "invoice.issued",
    "invoice.paid",
    "invoice.payment_failed",
    "outcome.disputed",
    "dispute.resolved",
]


def test_a_vendor_sees_margin_simulates_prices_and_credits_a_dispute(
    engine: Engine, vendor: Vendor, months: Months
) -> None:
    # 1. The plan, the customer on it since the start of month A, a spend alert, and an
    # endpoint at the receiver for every event type.
    customer_id = vendor.subscribe_acme(months.a.start)
    alert = vendor.call(
        "POST",
        "/v1/alerts",
        201,
        json={"kind": "spend", "threshold": "10.00", "plan": "insight-agent"},
    )
    with running(Receiver()) as receiver:
        endpoint = vendor.call(
            "POST",
            "/v1/webhook_endpoints",
            201,
            json={"url": receiver.url, "event_types": EVENT_TYPES},
        )
        assert endpoint["secret"].startswith("whsec_")
        receiver.secrets = [endpoint["secret"]]

        # 2. Month A: three conversations resolve, c-4 never does. Costs, per 1M tokens:
        # c-1: 1200/300 and 2000/500 on gpt-4o (0.006 + 0.010), 10000/2000 on small (0.0027)
        # c-2: 0.0123 as money, 4000/1000 on gpt-4o (0.02)
        # c-3: 20000/5000 on small on its resolution event itself (0.006)
        # c-4: 8000/2000 on gpt-4o (0.04), 1000/0 on small (0.00015): unbilled
        at = months.in_a
        sent = vendor.send(
            [
                model_call("call-1", at(1), "c-1", tokens("gpt-4o", 1200, 300)),
                model_call("call-2", at(1), "c-1", tokens("gpt-4o", 2000, 500)),
                model_call("call-3", at(1), "c-1", tokens("small", 10000, 2000)),
                resolved("res-1", at(2), "c-1", "chat"),
                model_call("call-4", at(3), "c-2", {"amount": "0.0123", "currency": "usd"}),
                model_call("call-5", at(3), "c-2", tokens("gpt-4o", 4000, 1000)),
                resolved("res-2", at(4), "c-2", "email"),
                resolved("res-3", at(5), "c-3", "chat", cost=tokens("small", 20000, 5000)),
                model_call("call-6", at(6), "c-4", tokens("gpt-4o", 8000, 2000)),
                model_call("call-7", at(6), "c-4", tokens("small", 1000, 0)),
            ]
        )
        assert sent["accepted"] == 10

        # 3. The alert job runs while A can still change, then A closes: 3 x 2.00 + 5.00.
        fired = evaluate(engine, now=months.a.end + timedelta(hours=1))
        assert [(item.key, item.kind, str(item.figure)) for item in fired] == [
            (alert["id"], "spend", "11.00")
        ]
        assert evaluate(engine, now=months.a.end + timedelta(hours=2)) == []
        closed = close_due(engine, now=months.close_a)
        assert [invoice.total for invoice in closed.invoices] == [Decimal("11.00")]
        (one,) = vendor.invoices(customer_id)
        assert (one["number"], one["status"], one["total"]) == (1, "issued", "11.00")
        assert shown(one["lines"]) == [
            ("charge", "Resolved conversations", "3", "6.00"),
            ("charge", "Platform fee", "1", "5.00"),
        ]
        deliver(engine, receiving_settings())
        assert types_received(receiver) == ["alert.triggered", "invoice.issued"]
        triggered, issued = by_type(receiver, "alert.triggered", "invoice.issued")
        assert triggered.body["data"]["alert"]["id"] == alert["id"]
        assert triggered.body["data"]["customer"] == {"id": customer_id, "external_id": "acme"}
        assert (triggered.body["data"]["figure"], triggered.body["data"]["threshold"]) == (
            "11.00",
            "10.00",
        )
        assert issued.body["data"]["invoice"] == one["id"]
        assert issued.body["data"]["total"] == one["total"] == "11.00"

        # 4. The margin of A: revenue is the invoice; c-1..c-3 carry 0.057, c-4 0.04015.
        margin = vendor.get(f"/v1/reports/margin?period={months.a.label}")
        (row,) = margin["customers"]
        assert (row["revenue_source"], row["invoice_ids"]) == ("invoice", [one["id"]])
        assert row["revenue"] == one["total"]
        assert (row["outcome_revenue"], row["other_revenue"]) == ("6.00", "5.00")
        assert (row["attributed_cost"], row["unbilled_cost"], row["cost"]) == (
            "0.057",
            "0.04015",
            "0.09715",
        )
        assert (row["margin"], row["margin_percent"]) == ("10.90285", "99.12")
        assert [
            (o["outcome"], o["settled"], o["pending"], o["revenue"], o["cost"], o["margin"])
            for o in row["outcomes"]
        ] == [("resolved_conversation", 3, 0, "6.00", "0.057", "5.943")]
        assert row["unpriced"] == []

        # 5. Simulating A: the same rules give the invoice; 2.50 a conversation gives 12.50.
        same = vendor.simulate(RULES, months.a)
        assert same["total"] == {
            "current": "11.00",
            "proposed": "11.00",
            "difference": "0.00",
            "percent_change": "0.00",
        }
        assert same["total"]["current"] == one["total"]
        assert same["treatment_changes"] == []
        priced_up = vendor.simulate(PROPOSED, months.a)
        assert priced_up["total"] == {
            "current": "11.00",
            "proposed": "12.50",
            "difference": "1.50",
            "percent_change": "13.64",
        }
        assert [(c["customer"], c["proposed"]) for c in priced_up["customers"]] == [
            ("acme", "12.50")
        ]

        # 6. The customer opens a portal link and disputes c-2 through the outcome's form.
        listed = vendor.dispute_in_portal(customer_id, "c-2", "not resolved")
        assert "Billed on invoice" in listed and "email" in listed  # the channel is shown

        (dispute,) = vendor.get(f"/v1/disputes?status=open&customer={customer_id}")["data"]
        assert (dispute["dedupe_key"], dispute["event_id"], dispute["reason"]) == (
            "c-2",
            "res-2",
            "not resolved",
        )
        accepted = vendor.call(
            "POST", f"/v1/disputes/{dispute['id']}/accept", json={"note": "Agreed"}
        )
        assert (accepted["status"], accepted["resolution_note"]) == ("accepted", "Agreed")
        assert "Accepted" in vendor.http.get("/portal/disputes").text
        deliver(engine, receiving_settings())
        assert types_received(receiver) == [
            "alert.triggered",
            "dispute.resolved",
            "invoice.issued",
            "outcome.disputed",
        ]
        disputed, resolution = by_type(receiver, "outcome.disputed", "dispute.resolved")
        assert disputed.body["data"]["id"] == resolution.body["data"]["id"] == dispute["id"]
        assert (disputed.body["data"]["status"], resolution.body["data"]["status"]) == (
            "open",
            "accepted",
        )

        # B closes: its fee, and a credit of c-2's 2.00 naming invoice 1.
        closed = close_due(engine, now=months.close_b)
        assert [invoice.total for invoice in closed.invoices] == [Decimal("3.00")]
        one_again, two = vendor.invoices(customer_id)
        assert one_again == one
        assert (two["number"], two["total"]) == (2, "3.00")
        assert shown(two["lines"]) == [
            ("charge", "Resolved conversations", "0", "0.00"),
            ("charge", "Platform fee", "1", "5.00"),
            ("credit", "Correction of invoice #1: Resolved conversations", "-1", "-2.00"),
        ]
        credit = two["lines"][2]
        assert credit["corrects_invoice_id"] == one["id"]
        assert vendor.line_events(two, credit) == {"res-2": "credited"}
        deliver(engine, receiving_settings())
        assert len(receiver.received) == 5
        assert receiver.received[4].body["type"] == "invoice.issued"
        assert receiver.received[4].body["data"]["total"] == "3.00"

    # A's margin now counts the credit, and c-2's cost is no longer earned by an outcome.
    (row,) = vendor.get(f"/v1/reports/margin?period={months.a.label}")["customers"]
    assert (row["invoice_ids"], row["revenue"]) == ([one["id"], two["id"]], "9.00")
    assert (row["attributed_cost"], row["unbilled_cost"]) == ("0.0247", "0.07245")
    assert all(got.verified for got in receiver.received)
    assert len({got.webhook_id for got in receiver.received}) == 5


def test_a_simulation_of_unchanged_rules_leaves_a_credited_outcome_off_like_the_invoice(
    engine: Engine, vendor: Vendor, months: Months
) -> None:
    """A dispute accepted before the close instant leaves the outcome off the invoice; the
    README says a simulation of the rules in force equals the issued invoices.

    Month B's close instant is always ahead of now, when the API records the acceptance (a
    close prices its period as of its instant: a credit recorded after it is corrected on
    the next invoice instead)."""
    customer_id = vendor.subscribe_acme(months.b.start)
    vendor.send([resolved(f"res-{n}", months.in_b(n), f"c-{n}", "chat") for n in (1, 2, 3)])
    vendor.dispute_in_portal(customer_id, "c-2", "not resolved")
    (dispute,) = vendor.get(f"/v1/disputes?status=open&customer={customer_id}")["data"]
    vendor.call("POST", f"/v1/disputes/{dispute['id']}/accept", json={})

    close_due(engine, now=months.close_b)
    (one,) = vendor.invoices(customer_id)
    assert shown(one["lines"]) == [
        ("charge", "Resolved conversations", "2", "4.00"),
        ("charge", "Platform fee", "1", "5.00"),
    ]
    assert one["total"] == "9.00"
    assert vendor.simulate(RULES, months.b)["total"]["current"] == one["total"]


# --- the vendor, its months, and what it sends ------------------------------------------


class Vendor(VendorSide):
    """The vendor's side, with the steps of this story."""

    def subscribe_acme(self, since: datetime) -> str:
        """Upload the plan; create acme on it from `since`; acme's id."""
        uploaded = self.call(
            "POST", "/v1/plans", 201, content=RULES, headers={"Content-Type": "application/yaml"}
        )
        assert (uploaded["plan"], uploaded["version"]) == ("insight-agent", 1)
        customer_id: str = self.call("POST", "/v1/customers", 201, json={"external_id": "acme"})[
            "id"
        ]
        self.call(
            "POST",
            f"/v1/customers/{customer_id}/plan",
            json={"plan": "insight-agent", "starts_at": iso(since)},
        )
        return customer_id

    def dispute_in_portal(self, customer_id: str, conversation: str, reason: str) -> str:
        """As the customer: open a fresh portal link, find the conversation's outcome, file
        the form on its page; the outcomes list as it was before filing."""
        session = self.call("POST", "/v1/portal_sessions", 201, json={"customer": customer_id})
        link = session["url"][session["url"].index("/portal/") :]
        opened = self.http.get(link, follow_redirects=False)
        assert (opened.status_code, opened.headers["location"]) == (303, "/portal")
        listed = self.http.get("/portal/outcomes", params={"q": conversation})
        assert listed.status_code == 200, listed.text
        (outcome_id,) = re.findall(r'href="/portal/outcomes/(\d+)"', listed.text)
        page = self.http.get(f"/portal/outcomes/{outcome_id}")
        assert page.status_code == 200, page.text
        filed = self.http.post(
            f"/portal/outcomes/{outcome_id}/dispute",
            data={"reason": reason, "csrf_token": csrf_of(page.text)},
            follow_redirects=False,
        )
        assert (filed.status_code, filed.headers["location"]) == (303, "/portal/disputes?filed=1")
        text: str = listed.text
        return text

    def simulate(self, rules: str, period: Period) -> dict[str, Any]:
        answer: dict[str, Any] = self.call(
            "POST",
            "/v1/plans/insight-agent/simulate",
            params={"from": iso(period.start), "to": iso(period.end)},
            content=rules,
            headers={"Content-Type": "application/yaml"},
        )
        return answer


def tokens(model: str, input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {"model": model, "input_tokens": input_tokens, "output_tokens": output_tokens}


def model_call(
    event_id: str, at: datetime, conversation: str, cost: dict[str, Any]
) -> dict[str, Any]:
    """A cost-only event: no outcome matches `model.call`; its cost finds the conversation's."""
    return {
        "id": event_id,
        "type": "model.call",
        "customer": "acme",
        "timestamp": iso(at),
        "properties": {"conversation_id": conversation},
        "cost": cost,
    }


def resolved(
    event_id: str,
    at: datetime,
    conversation: str,
    channel: str,
    cost: dict[str, Any] | None = None,
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "id": event_id,
        "type": "conversation.resolved",
        "customer": "acme",
        "timestamp": iso(at),
        "properties": {"conversation_id": conversation, "channel": channel},
    }
    if cost is not None:
        event["cost"] = cost
    return event


def shown(lines: list[dict[str, Any]]) -> list[tuple[str, str, str | None, str]]:
    """The lines as a reader sees them: kind, description, quantity, amount."""
    return [(line["kind"], line["description"], line["quantity"], line["amount"]) for line in lines]


def types_received(receiver: Receiver) -> list[str]:
    """The event types received so far, sorted: a batch is sent in parallel, in any order."""
    return sorted(str(got.body["type"]) for got in receiver.received)


def by_type(receiver: Receiver, *event_types: str) -> list[Received]:
    """The one delivery received of each type."""
    found = []
    for event_type in event_types:
        (got,) = [got for got in receiver.received if got.body["type"] == event_type]
        found.append(got)
    return found


@pytest.fixture
def months() -> Months:
    return Months.around(datetime.now(UTC), CLOSE_AFTER)


@pytest.fixture
def vendor(engine: Engine, database_url: str) -> Iterator[Vendor]:
    with TestClient(create_app(receiving_settings(database_url=database_url))) as http:
        yield Vendor(http, create_vendor(engine, "Acme AI"))
