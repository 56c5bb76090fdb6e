"""Priced lines as invoice lines: the core's `price_usage`, each line keyed by its charge.

A line's `charge_key` names the rule-file charge it prices (`charge:<index>:<name>`), or
`minimum`/`maximum`, so a later correction can compare a period's price now with what its
lines billed, charge by charge.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from metering.billing.invoices.usage import OutcomeIds
from pricing_rules.charges import TierAmount
from pricing_rules.charges.base import ChargeBase
from pricing_rules.commitments import Position
from pricing_rules.pricing import GroupLabel, MeasuredUsage, PricedInvoice, price_usage
from pricing_rules.rules import RuleFile


@dataclass(frozen=True, slots=True)
class LineDraft:
    """An invoice line before it is stored (the upcoming invoice shows drafts as they are)."""

    kind: str
    charge_key: str
    description: str
    outcome: str | None
    quantity: Decimal | None
    amount: Decimal
    period_start: datetime
    period_end: datetime
    detail: dict[str, Any] = field(default_factory=dict)
    outcome_ids: OutcomeIds = ()
    corrects_invoice_id: str | None = None


def charge_label(charge: ChargeBase) -> str:
    """How a charge is named: its `name`, else the outcome it prices, else its model."""
    return charge.name or charge.priced_outcome or charge.model


def label_of_key(key: str) -> str | None:
    """The charge label inside a `charge_key` (None for the minimum, cap or another line)."""
    if not key.startswith("charge:"):
        return None
    label = key.split(":", 2)[2]
    return label.split("[", 1)[0] if label.endswith("]") else label


def charge_key(index: int, charge: ChargeBase, group: GroupLabel | None = None) -> str:
    """`charge:<index>:<name or outcome>`, and `[<value>]` after it for one value of a
    `group_by` charge (`[]` for events without one): stable while the version's charges are."""
    key = f"charge:{index}:{charge_label(charge)}"
    return key if group is None else f"{key}[{group.value or ''}]"


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


def tier_detail(tier: TierAmount) -> dict[str, Any]:
    return {
        "tier": tier.tier,
        "first_unit": _text(tier.first_unit),
        "last_unit": _text(tier.last_unit),
        "units": _text(tier.units),
        "unit_price": _text(tier.unit_price),
        "flat_price": _text(tier.flat_price),
        "amount": _text(tier.amount),
    }


@dataclass(frozen=True, slots=True)
class KeyedLine:
    """A priced line with its charge key, as `priced_by_key` returns them."""

    key: str
    kind: str
    description: str
    outcome: str | None
    quantity: Decimal
    amount: Decimal
    detail: dict[str, Any]
    group: GroupLabel | None = None


def keyed_lines(rules: RuleFile, priced: PricedInvoice) -> list[KeyedLine]:
    """The lines of `priced` in order, each with its charge key."""
    result = []
    for line in priced.lines:
        index = line.charge_index
        key = line.kind if index is None else charge_key(index, rules.charges[index], line.group)
        if line.part is not None:
            key = f"{line.kind}:{line.part}"
        detail: dict[str, Any] = {"text": line.detail}
        if line.tiers:
            detail["tiers"] = [tier_detail(tier) for tier in line.tiers]
        if line.group is not None:
            detail["group"] = {"path": line.group.path, "value": line.group.value}
        result.append(
            KeyedLine(
                key,
                line.kind,
                line.charge,
                line.outcome,
                line.quantity,
                line.amount,
                detail,
                line.group,
            )
        )
    return result


GroupIds = Mapping[tuple[str, str | None], OutcomeIds]
"""The ids of each (outcome, group_by value), for the lines of a grouped charge."""


CommitmentIds = Mapping[str, OutcomeIds]
"""The rows of each commitment line (`commitment:committed`, `commitment:overage`)."""


def line_ids(
    line: KeyedLine,
    ids: Mapping[str, OutcomeIds],
    group_ids: GroupIds,
    commitment_ids: CommitmentIds | None = None,
) -> OutcomeIds:
    """The outcome rows a line counts: its outcome's, only its value's, or only its side
    of the commitment's crossing (an amount commitment's lines name no outcome but have
    rows all the same)."""
    if commitment_ids is not None and line.key in commitment_ids:
        return commitment_ids[line.key]
    if line.outcome is None:
        return ()
    if line.group is not None:
        return group_ids.get((line.outcome, line.group.value), ())
    return ids.get(line.outcome, ())


def rate(
    rules: RuleFile,
    usage: Mapping[str, MeasuredUsage],
    ids: Mapping[str, OutcomeIds],
    period_start: datetime,
    period_end: datetime,
    group_ids: GroupIds | None = None,
    position: Position | None = None,
    commitment_ids: CommitmentIds | None = None,
) -> list[LineDraft]:
    """The lines of one customer's period: one per charge, then the minimum or cap, then
    the commitment's (from the period's `position` in its term)."""
    return [
        LineDraft(
            kind=line.kind,
            charge_key=line.key,
            description=line.description,
            outcome=line.outcome,
            quantity=line.quantity,
            amount=line.amount,
            period_start=period_start,
            period_end=period_end,
            detail=line.detail,
            outcome_ids=line_ids(line, ids, group_ids or {}, commitment_ids),
        )
        for line in keyed_lines(rules, price_usage(rules, usage, position))
    ]
