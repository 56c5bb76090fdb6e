"""What each outcome row adds to its period's invoice, for the rows a page shows.

A row that is not its key's billed winner (a duplicate, superseded, reversed, voided, credited
or problem row) adds nothing. A counted row's share is its marginal price under its charges
(`pricing_rules.marginal`): the rows of its (customer, outcome, period) that count now, in the
order the core orders events (occurred_at, then event id), each contributing one unit for a
count or its value for a sum. Pending rows are included, so the shares of a period add up to
what it bills once everything settles. Measures whose units are not a sum of the rows' (max,
latest, unique) and charges whose tiers span every `group_by` value have no share per row:
None. The shares are exact (unrounded); a line rounds once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

import sqlalchemy as sa
from sqlmodel import Session

from metering.catalog.plans.compiled import rules_of
from metering.ledger import states
from metering.ledger.outcomes.models import Outcome
from metering.platform.db.types import exact_decimal
from pricing_rules.charges import ChargeBase, Usage
from pricing_rules.charges.base import UnitCharge
from pricing_rules.marginal import added_amounts
from pricing_rules.measures import Count, Sum
from pricing_rules.rules import RuleFile

ZERO = Decimal(0)
OUTCOMES: sa.Table = Outcome.__table__  # type: ignore[attr-defined]

Group = tuple[str, str, datetime, str]
"""(customer id, outcome, period start, plan version id)."""


class Row(Protocol):
    id: Any
    occurred_at: datetime
    customer_id: str
    outcome: str
    period_start: datetime
    plan_version_id: str
    state: str


def _charges(rules: RuleFile, outcome: str) -> list[ChargeBase] | None:
    """The charges pricing `outcome`, or None when a row's share is not defined."""
    spec = rules.outcomes.get(outcome)
    if spec is None or not isinstance(spec.measure, Count | Sum):
        return None
    charges = [c for c in rules.charges if c.priced_outcome == outcome]
    if any(isinstance(c, UnitCharge) and c.tiers_across == "all" for c in charges):
        return None
    return charges


def _order(session: Session) -> tuple[sa.ColumnElement[Any], ...]:
    t = OUTCOMES.c
    event_id: sa.ColumnElement[Any] = t.event_id
    if session.get_bind().dialect.name == "postgresql":
        event_id = sa.collate(event_id, "C")  # code point order, as Python compares
    return (t.occurred_at, event_id, t.id)


def _of_group(group: Group) -> list[sa.ColumnElement[bool]]:
    customer_id, outcome, period_start, _ = group
    t = OUTCOMES.c
    return [
        t.customer_id == customer_id,
        t.outcome == outcome,
        t.period_start == period_start,
        states.COUNTED.sql(t),
    ]


def _ordered(session: Session, group: Group) -> list[Any]:
    """The group's counted rows in billing order: id, dimension, value."""
    t = OUTCOMES.c
    value = sa.type_coerce(t.value, sa.types.NullType()).label("value")
    statement = (
        sa.select(t.id, t.dimension, value).where(*_of_group(group)).order_by(*_order(session))
    )
    return list(session.execute(statement).all())


def _each_alone(charges: Sequence[ChargeBase] | None) -> bool:
    """Whether every charge prices each row on its own value (a percentage): a row's share
    then needs only the row, not the rows billed before it."""
    return bool(charges) and all(
        c.needs_values and not isinstance(c, UnitCharge) for c in charges or ()
    )


def _own(session: Session, rows: Sequence[Row]) -> list[Any]:
    """These rows only: id, dimension, value (for charges that price each row alone)."""
    t = OUTCOMES.c
    value = sa.type_coerce(t.value, sa.types.NullType()).label("value")
    statement = sa.select(t.id, t.dimension, value).where(t.id.in_([row.id for row in rows]))
    return list(session.execute(statement).all())


def _ranks(session: Session, group: Group, rows: Sequence[Row]) -> dict[int, tuple[Any, int, int]]:
    """Row id -> (dimension, rank among the group, rank among its dimension), for `rows`
    only: a count's share needs only the row's place. The rows before the page's earliest
    instant are counted (an index range), and only those from it to the page's latest are
    numbered, so a page of recent rows never sorts the whole period."""
    t = OUTCOMES.c
    ids = [row.id for row in rows]
    first = min(row.occurred_at for row in rows)
    last = max(row.occurred_at for row in rows)
    grouped = [t.dimension, sa.func.count()]
    before = dict(
        session.execute(
            sa.select(*grouped)
            .where(*_of_group(group), t.occurred_at < first)
            .group_by(t.dimension)
        ).all()
    )
    order = _order(session)
    numbered = (
        sa.select(
            t.id,
            t.dimension,
            sa.func.row_number().over(order_by=order).label("rank"),
            sa.func.row_number().over(partition_by=t.dimension, order_by=order).label("in_value"),
        )
        .where(*_of_group(group), t.occurred_at >= first, t.occurred_at <= last)
        .subquery()
    )
    n = numbered.c
    statement = sa.select(n.id, n.dimension, n.rank, n.in_value).where(n.id.in_(ids))
    earlier = sum(before.values())
    return {
        row.id: (row.dimension, earlier + row.rank, before.get(row.dimension, 0) + row.in_value)
        for row in session.execute(statement)
    }


def _count_shares(
    charges: Sequence[ChargeBase], ranks: dict[int, tuple[Any, int, int]]
) -> dict[int, Decimal | None]:
    """A count's share: the charge's price at the row's place minus at the place before."""
    shares: dict[int, Decimal | None] = {}
    for row_id, (dimension, rank, in_value) in ranks.items():
        total = ZERO
        for charge in charges:
            priced: ChargeBase = charge
            place = Decimal(rank)
            if isinstance(charge, UnitCharge) and charge.group_path is not None:
                priced, place = charge.for_value(dimension), Decimal(in_value)
            if priced.needs_values:
                total += added_amounts(priced, [Decimal(1)])[0]
            else:
                before = priced.price(Usage(quantity=place - 1)).amount
                total += priced.price(Usage(quantity=place)).amount - before
        shares[row_id] = total
    return shares


def _shares(rules: RuleFile, outcome: str, ordered: Sequence[Any]) -> dict[int, Decimal | None]:
    charges = _charges(rules, outcome)
    if charges is None:
        return {row.id: None for row in ordered}
    is_count = isinstance(rules.outcomes[outcome].measure, Count)
    shares: dict[int, Decimal | None] = {row.id: ZERO for row in ordered}
    for charge in charges:
        by_value: dict[str | None, list[Any]] = defaultdict(list)
        for row in ordered:
            by_value[row.dimension if charge.group_path else None].append(row)
        for value, rows in by_value.items():
            priced = charge.for_value(value) if isinstance(charge, UnitCharge) else charge
            units = [
                Decimal(1) if is_count else exact_decimal(r.value) if r.value is not None else ZERO
                for r in rows
            ]
            for row, amount in zip(rows, added_amounts(priced, units), strict=True):
                shares[row.id] = (shares[row.id] or ZERO) + amount
    return shares


def added_by_rows(session: Session, rows: Iterable[Row]) -> dict[int, Decimal | None]:
    """Row id -> what it adds to its invoice (0 when it is not billed; None: not defined)."""
    added: dict[int, Decimal | None] = {}
    groups: dict[Group, list[Row]] = defaultdict(list)
    for row in rows:
        if states.COUNTED.holds(row):
            groups[(row.customer_id, row.outcome, row.period_start, row.plan_version_id)].append(
                row
            )
        else:
            added[row.id] = ZERO
    for group, members in groups.items():
        rules = rules_of(session, group[3])
        charges = _charges(rules, group[1])
        shares: dict[int, Decimal | None] = {}  # no charge prices it: each adds 0
        if charges is None:
            shares = {row.id: None for row in members}
        elif not charges:
            pass
        elif isinstance(rules.outcomes[group[1]].measure, Count):
            shares = _count_shares(charges, _ranks(session, group, members))
        elif _each_alone(charges):
            shares = _shares(rules, group[1], _own(session, members))
        else:
            shares = _shares(rules, group[1], _ordered(session, group))
        for row in members:
            added[row.id] = shares.get(row.id, ZERO)
    return added
