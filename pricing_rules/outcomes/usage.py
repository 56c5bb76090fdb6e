"""What a customer's outcomes amount to in a period: the ledger's answer, which pricing
reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from pricing_rules.measures import MeasureValue


@dataclass(frozen=True, slots=True)
class Problem:
    """An event that should be an outcome but cannot be valued; reported, never dropped."""

    event_id: str
    outcome: str
    message: str


@dataclass(slots=True)
class OutcomeUsage:
    """What one customer's outcomes of one kind amount to in a period, as of a time."""

    outcome: str
    quantity: Decimal = Decimal(0)
    billable: int = 0
    values: list[Decimal] = field(default_factory=list)
    pending: int = 0
    reversed: int = 0
    duplicates: int = 0
    credited: int = 0
    rejected: int = 0
    awaiting: int = 0
    """Verified outcomes without their confirmation (yet, or ever with `otherwise: drop`)."""
    superseded: int = 0
    over_limit: int = 0
    """Billed winners held over a block limit (`OutcomeLedger.resolve(held=...)`)."""
    groups: dict[str | None, OutcomeUsage] = field(default_factory=dict)
    """Billable usage per value of the outcome's `group_by` path, when it has one."""


@dataclass(frozen=True, slots=True)
class Winner:
    """A key's billed winner (pending or settled): what a limit decides on."""

    outcome: str
    occurred_at: datetime
    event_id: str
    value: MeasureValue


@dataclass(slots=True)
class CustomerUsage:
    customer: str
    outcomes: dict[str, OutcomeUsage] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    winners: list[Winner] = field(default_factory=list)
    """Every billed winner, when the ledger was asked to keep them."""

    def usage(self, outcome: str) -> OutcomeUsage:
        found = self.outcomes.get(outcome)
        if found is None:
            found = self.outcomes[outcome] = OutcomeUsage(outcome)
        return found
