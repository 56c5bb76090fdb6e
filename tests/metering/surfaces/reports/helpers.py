"""A month of one customer's conversations: model calls with costs, resolutions, a reopen."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

RULES = """\
plan: support-agent
version: 1
currency: usd
billing: {interval: month, timezone: UTC, close_after: 72h}
outcomes:
  resolved_conversation:
    event: conversation.resolved
    unique_by: properties.conversation_id
    settle:
      after: 24h
      reversed_by: {event: conversation.reopened, match: properties.conversation_id}
charges:
  - outcome: resolved_conversation
    model: per_unit
    unit_price: "0.99"
  - {name: Platform fee, model: flat, price: "20.00"}
costs:
  attribute_to: properties.conversation_id
  models:
    gpt-4o: {input: "2.50", output: "10.00"}
    small: {input: "0.15", output: "0.60", per: 1000000}
"""

NOVEMBER = datetime(2026, 11, 1, tzinfo=UTC)
REPORTED = datetime(2026, 12, 2, tzinfo=UTC)  # November ended, not closed yet (72h)
CLOSED = datetime(2026, 12, 4, 1, tzinfo=UTC)  # November closed


def at(day: int, hour: int = 12, month: int = 11) -> str:
    return datetime(2026, month, day, hour, tzinfo=UTC).isoformat().replace("+00:00", "Z")


def call(
    event_id: str, conversation: str, cost: dict[str, Any], when: str, customer: str = "acme"
) -> dict[str, Any]:
    """A model call: AI work that is not itself an outcome, with what it cost."""
    return {
        "id": event_id,
        "type": "model.call",
        "customer": customer,
        "timestamp": when,
        "properties": {"conversation_id": conversation},
        "cost": cost,
    }


def tokens(model: str, input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {"model": model, "input_tokens": input_tokens, "output_tokens": output_tokens}


def money(amount: str) -> dict[str, Any]:
    return {"amount": amount, "currency": "usd"}


def resolution(event_id: str, conversation: str, when: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "conversation.resolved",
        "customer": "acme",
        "timestamp": when,
        "properties": {"conversation_id": conversation},
    } | extra


def reopen(event_id: str, conversation: str, when: str) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "conversation.reopened",
        "customer": "acme",
        "timestamp": when,
        "properties": {"conversation_id": conversation},
    }


def month_of_conversations() -> list[dict[str, Any]]:
    """c-1: three model calls (0.006 + 0.0027 + 0.0123 = 0.021) and one resolution;
    c-2: two calls (2 x 0.0035) and no resolution; c-3: one call (0.05), resolved then
    reopened; c-4: a call on a model the rule file has no prices for."""
    return [
        call("e-1", "c-1", tokens("gpt-4o", 1200, 300), at(10, 9)),  # 0.003 + 0.003
        call("e-2", "c-1", tokens("small", 10000, 2000), at(10, 10)),  # 0.0015 + 0.0012
        call("e-3", "c-1", money("0.0123"), at(10, 11)),
        resolution("r-1", "c-1", at(10, 12)),
        call("e-4", "c-2", tokens("gpt-4o", 1000, 100), at(11, 9)),  # 0.0025 + 0.001
        call("e-5", "c-2", tokens("gpt-4o", 1000, 100), at(11, 10)),
        call("e-6", "c-3", money("0.05"), at(12, 9)),
        resolution("r-3", "c-3", at(12, 10)),
        reopen("o-3", "c-3", at(12, 15)),
        call("e-7", "c-4", tokens("gpt-9", 500, 500), at(13, 9)),
    ]
