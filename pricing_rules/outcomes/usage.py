"""What a customer's outcomes amount to in a period: the ledger's answer, which pricing
reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal


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
    groups: dict[str | None, OutcomeUsage] = field(default_factory=dict)
    """Billable usage per value of the outcome's `group_by` path, when it has one."""


@dataclass(slots=True)
class CustomerUsage:
    customer: str
    outcomes: dict[str, OutcomeUsage] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def usage(self, outcome: str) -> OutcomeUsage:
        found = self.outcomes.get(outcome)
        if found is None:
            found = self.outcomes[outcome] = OutcomeUsage(outcome)
        return found
