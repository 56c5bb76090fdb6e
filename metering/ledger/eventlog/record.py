"""One event as the event log holds it, and the monthly figures every backend agrees on.

The cost is split into typed values here, once, with the pure core's `parse_cost`: a token
cost into its model and integer token counts, a money cost into an exact `Decimal` and its
currency. Backends store those values in typed columns and add them up without floats.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from metering.platform.db import jsontext
from pricing_rules.costs import MoneyCost, TokenCost, parse_cost
from pricing_rules.events import Event

COST_SCALE = 18
"""Decimal places of the event log's money column (`Decimal(38, 18)`)."""
MAX_COST = Decimal(10) ** (38 - COST_SCALE)


class CostNotStorable(ValueError):
    """A money amount the event log's Decimal column cannot hold exactly."""


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def digest(content_hash: str) -> int:
    """The first 64 bits of a content hash (hex), what the event log keeps of it: two
    contents of one id told apart but for a chance of one in 2**64 (the content itself is
    stored, so the full hash adds nothing else)."""
    return int(content_hash[:16], 16)


def epoch_micros(when: datetime) -> int:
    """Microseconds since the epoch, exact (integer timedelta arithmetic, no float)."""
    aware = when.astimezone(UTC) if when.tzinfo is None else when  # naive: local, as before
    return (aware - _EPOCH) // _MICROSECOND


@dataclass(frozen=True, slots=True)
class EventRecord:
    """An accepted event; `(vendor_id, customer_id, event_id)` is its identity."""

    vendor_id: str
    customer_id: str
    customer_external_id: str
    event_id: str
    type: str
    occurred_at: datetime
    properties: str
    cost: str | None
    content_hash: str = ""
    """as ingestion computed it; "" for an event read from the event log, which keeps only
    its `digest`"""
    received_at: datetime | None = None
    status: str = ""
    """"unmatched" for an event stored only in the log (a cost-only event); "" for one the
    SQL store also holds, which has its status"""
    plan_version_id: str | None = None
    void_reason: str | None = None
    voided_at: datetime | None = None
    """set on an event voided in the log (only a log-only event is voided there)"""

    @property
    def log_only(self) -> bool:
        return self.status != ""

    @property
    def occurred_micros(self) -> int:
        """Microseconds since the epoch: the sort key reads and cursors use."""
        return epoch_micros(self.occurred_at)

    @property
    def month(self) -> str:
        return self.occurred_at.astimezone(UTC).strftime("%Y-%m")

    def cost_parts(self) -> CostParts:
        return cost_parts(self.cost)

    def event(self) -> Event:
        """The event as the pure core reads it."""
        return Event(
            id=self.event_id,
            type=self.type,
            customer=self.customer_external_id,
            timestamp=self.occurred_at,
            properties=jsontext.loads(self.properties),
            cost=None if self.cost is None else jsontext.loads(self.cost),
        )


class CostParts(NamedTuple):  # a tuple: made for every cost event ingestion logs
    """The typed columns of a cost: tokens for a model, or money in a currency."""

    model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    amount: Decimal | None = None
    currency: str | None = None


def cost_parts(cost_json: str | None) -> CostParts:
    """The typed parts of an event's cost JSON (already checked when it was received)."""
    return cost_parts_of(None if cost_json is None else jsontext.loads(cost_json))


def cost_parts_of(value: Any) -> CostParts:
    """The typed parts of an event's decoded cost (None: no cost)."""
    if value is None:
        return CostParts()
    parsed = parse_cost(value)
    if isinstance(parsed, TokenCost):
        return CostParts(parsed.model, parsed.input_tokens, parsed.output_tokens)
    assert isinstance(parsed, MoneyCost)
    amount = parsed.amount
    exponent = amount.as_tuple().exponent
    if (isinstance(exponent, int) and exponent < -COST_SCALE) or amount >= MAX_COST:
        raise CostNotStorable(
            f"cost.amount: {amount} has more than {COST_SCALE} decimal places or "
            f"{38 - COST_SCALE} digits before the point"
        )
    return CostParts(amount=amount, currency=parsed.currency)


@dataclass(frozen=True, slots=True)
class Summed:
    """Cost events with the same model (tokens) or currency (money), summed: what a margin
    report prices at once (prices are linear)."""

    model: str | None
    currency: str | None
    events: int
    input_tokens: int
    output_tokens: int
    amount: Decimal | None


@dataclass(frozen=True, slots=True)
class CostSum(Summed):
    """The `Summed` cost events of a customer with the same properties."""

    customer_id: str
    properties: str


@dataclass(frozen=True, slots=True)
class AttributedSum(Summed):
    """The `Summed` cost events of a customer attributed to one outcome (and `group_by`
    value; None: unbilled cost)."""

    customer_id: str
    outcome: str | None
    dimension: str | None


@dataclass(slots=True)
class Attributed:
    """A report's log-only costs attributed in ClickHouse, and whether the scan saw cost
    events that need another read."""

    sums: list[AttributedSum] = field(default_factory=list)
    unread: bool = False
    """log-only ones whose key ClickHouse does not read (summed per properties instead)"""
    sql_held: bool = False
    """ones the SQL store holds too (read one by one)"""


@dataclass(slots=True)
class MonthTotals:
    """A customer's events of one calendar month (UTC), deduplicated by event id."""

    customer_id: str
    month: str
    events: int = 0
    cost_events: int = 0
    distinct_types: int = 0
    tokens: dict[str, tuple[int, int]] = field(default_factory=dict)
    """model -> (input tokens, output tokens)"""
    money: dict[str, Decimal] = field(default_factory=dict)
    """currency -> amount, exact"""

    def comparable(self) -> tuple[Any, ...]:
        """The figures as a value equal between stores that hold the same events."""
        return (
            self.customer_id,
            self.month,
            self.events,
            self.cost_events,
            self.distinct_types,
            tuple(sorted(self.tokens.items())),
            tuple(sorted((c, a.normalize()) for c, a in self.money.items())),
        )


def totals_of(records: Iterable[EventRecord]) -> list[MonthTotals]:
    """Monthly figures computed in Python: what every backend must return for `records`."""
    found: dict[tuple[str, str], MonthTotals] = {}
    types: dict[tuple[str, str], set[str]] = {}
    for record in records:
        key = (record.customer_id, record.month)
        totals = found.setdefault(key, MonthTotals(*key))
        types.setdefault(key, set()).add(record.type)
        totals.events += 1
        parts = record.cost_parts()
        if record.cost is not None and (parts.model or parts.currency):
            totals.cost_events += 1
        if parts.model is not None:
            inp, out = totals.tokens.get(parts.model, (0, 0))
            totals.tokens[parts.model] = (inp + parts.input_tokens, out + parts.output_tokens)
        if parts.currency is not None and parts.amount is not None:
            totals.money[parts.currency] = (
                totals.money.get(parts.currency, Decimal(0)) + parts.amount
            )
    for key, totals in found.items():
        totals.distinct_types = len(types[key])
    return [found[key] for key in sorted(found)]
