"""From measured usage to invoice lines: each charge priced, rounded once, then min and cap.

The amounts of charge models are unrounded; a line is rounded here, once, half-up to the
currency's minor unit, and the total is the sum of rounded lines. The minimum true-up and the
cap compare against that rounded subtotal, so the printed lines always add up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from pricing_rules.charges import ChargeBase, PerEventSums, TierAmount, Usage
from pricing_rules.commitments import Position, commitment_parts
from pricing_rules.money import round_money
from pricing_rules.rules import RuleFile

LineKind = Literal["charge", "minimum", "maximum", "commitment"]
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class PricedLine:
    charge: str
    kind: LineKind
    outcome: str | None
    quantity: Decimal
    amount: Decimal
    tiers: tuple[TierAmount, ...] = ()
    detail: str = ""
    charge_index: int | None = None
    """The rule file's charge this line prices (None for the minimum and the cap)."""
    group: GroupLabel | None = None
    """The `group_by` value this line prices, for a charge priced per value."""
    part: str | None = None
    """Which line of the commitment this is (committed, overage, true_up)."""


@dataclass(frozen=True, slots=True)
class GroupLabel:
    """The value of a `group_by` line: its path and value (None: events without it)."""

    path: str
    value: str | None

    @property
    def text(self) -> str:
        return "(none)" if self.value is None else self.value


@dataclass(frozen=True, slots=True)
class PricedInvoice:
    currency: str
    lines: tuple[PricedLine, ...]

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), ZERO)

    @property
    def subtotal(self) -> Decimal:
        """What the period spends at the plan's prices (charges, minimum, cap): what an
        amount commitment draws from."""
        return sum((line.amount for line in self.lines if line.kind != "commitment"), ZERO)


@dataclass(frozen=True, slots=True)
class MeasuredUsage:
    """An outcome's measured quantity, its billable count, and its per-event values.

    `values` is a callable so a database can stream them only for charges that need them.
    """

    quantity: Decimal = ZERO
    events: int = 0
    values: Callable[[], Iterable[Decimal]] = tuple
    groups: Mapping[str | None, MeasuredUsage] = field(default_factory=dict)
    """The usage of each value of the outcome's `group_by` path, when a charge groups it."""
    sums: Mapping[int, PerEventSums] = field(default_factory=dict)
    """Charge index -> that per-event charge's figures added up by the store: the charge
    prices from them instead of reading `values`."""


NO_USAGE = MeasuredUsage()


def price_usage(
    rules: RuleFile, usage: Mapping[str, MeasuredUsage], position: Position | None = None
) -> PricedInvoice:
    """Price one customer's period: one line per charge, then the minimum or cap line, then
    the commitment's lines from the period's `position` in its term (the term's start when
    not given: a period priced alone)."""
    currency = rules.currency
    lines: list[PricedLine] = []
    for index, charge in enumerate(rules.charges):
        outcome = charge.priced_outcome
        path = charge.group_path
        if outcome is not None and path is not None:
            lines.extend(_group_lines(index, charge, path, usage.get(outcome, NO_USAGE), currency))
            continue
        if outcome is None:
            priced = charge.price(Usage(quantity=Decimal(1)))
        else:
            measured = usage.get(outcome, NO_USAGE)
            sums = measured.sums.get(index)
            values = measured.values() if charge.needs_values and sums is None else ()
            priced = charge.price(
                Usage(quantity=measured.quantity, values=values, events=measured.events, sums=sums)
            )
        lines.append(
            PricedLine(
                charge=charge.display_name,
                kind="charge",
                outcome=outcome,
                quantity=priced.quantity,
                amount=round_money(priced.amount, currency),
                tiers=priced.tiers,
                detail=priced.detail,
                charge_index=index,
            )
        )
    subtotal = sum((line.amount for line in lines), ZERO)
    if rules.minimum is not None and subtotal < rules.minimum:
        lines.append(
            _bound_line("minimum", "Minimum spend true-up", rules.minimum, subtotal, currency)
        )
    cap = rules.maximum
    if cap is not None and cap.on_reach == "stop_billing" and subtotal > cap.amount:
        lines.append(_bound_line("maximum", "Period cap", cap.amount, subtotal, currency))
    if rules.commitment is not None:
        by_amount = rules.commitment.by_amount
        outcome = None if by_amount else rules.commitment.outcome
        if outcome is None:  # an amount: the period's spend at the plan's prices
            quantity = sum((line.amount for line in lines), ZERO)
        else:
            quantity = usage.get(outcome, NO_USAGE).quantity
        for part in commitment_parts(rules.commitment, position or Position(), quantity, currency):
            lines.append(
                PricedLine(
                    charge=part.description,
                    kind="commitment",
                    outcome=None if part.part == "true_up" else outcome,
                    quantity=part.quantity,
                    amount=part.amount,
                    tiers=part.tiers,
                    detail=f"commitment {part.part}",
                    part=part.part,
                )
            )
    return PricedInvoice(currency, tuple(lines))


def _group_lines(
    index: int, charge: ChargeBase, path: str, measured: MeasuredUsage, currency: str
) -> list[PricedLine]:
    """One line per value of the charge's `group_by` path seen in the period."""
    groups = {
        value: Usage(quantity=group.quantity, events=group.events)
        for value, group in measured.groups.items()
    }
    lines = []
    for found in charge.price_groups(groups):
        label = GroupLabel(path, found.value)
        lines.append(
            PricedLine(
                charge=f"{charge.display_name} ({label.text})",
                kind="charge",
                outcome=charge.priced_outcome,
                quantity=found.amount.quantity,
                amount=round_money(found.amount.amount, currency),
                tiers=found.amount.tiers,
                detail=found.amount.detail,
                charge_index=index,
                group=label,
            )
        )
    return lines


def _bound_line(
    kind: LineKind, charge: str, bound: Decimal, subtotal: Decimal, currency: str
) -> PricedLine:
    """The line that brings the subtotal to the period minimum or down to the cap."""
    return PricedLine(
        charge=charge,
        kind=kind,
        outcome=None,
        quantity=Decimal(1),
        amount=round_money(bound - subtotal, currency),
        detail=f"period {kind} {bound}",
    )
