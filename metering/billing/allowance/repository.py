"""The reads of the allowance check, set-based and in plain SQL (no ORM objects): one
statement, so one round trip to the database, for one customer or a batch of a hundred,
the caller's API key included."""

from __future__ import annotations

import functools
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from metering.billing.credits.models import CreditGrant, GrantStatus
from metering.catalog.customers.models import Customer
from metering.catalog.subscriptions.models import Subscription
from metering.catalog.vendors.models import ApiKey
from metering.ledger.tallies import repository as tallies
from metering.platform.db.types import Amount, UTCDateTime, exact_decimal

CUSTOMERS: sa.Table = Customer.__table__  # type: ignore[attr-defined]
SUBSCRIPTIONS: sa.Table = Subscription.__table__  # type: ignore[attr-defined]
GRANTS: sa.Table = CreditGrant.__table__  # type: ignore[attr-defined]
API_KEYS: sa.Table = ApiKey.__table__  # type: ignore[attr-defined]
KEY_HASH: sa.BindParameter[str] = sa.bindparam("key_hash")


@dataclass(frozen=True, slots=True)
class CustomerTerms:
    """A customer's spend limit and the subscription in force now (None: no plan)."""

    customer_id: str
    spend_limit_amount: Decimal | None
    spend_limit_on_reach: str | None
    plan_version_id: str | None
    starts_at: datetime | None
    ends_at: datetime | None


@dataclass(slots=True)
class Snapshot:
    """What the allowance check reads, as of one moment."""

    vendor_id: str | None = None
    """The vendor of the API key (None: the key is unknown or revoked)."""
    terms: dict[str, CustomerTerms] = field(default_factory=dict)
    """The vendor's customers among those asked (another vendor's are absent)."""
    credit: dict[tuple[str, str], Decimal] = field(default_factory=dict)
    """The remaining amount of each customer's active grants usable now, by currency."""
    tallies: dict[tuple[str, datetime], dict[str, tallies.PeriodTally]] = field(
        default_factory=dict
    )
    """By (customer id, period start), then outcome: the tallies of each customer's latest
    period started by now, the open period's when it has a start the caller expects."""


@functools.cache
def _statement() -> sa.CompoundSelect[Any]:
    """The key's vendor, terms, credit and tallies: a UNION ALL of the four reads, each row
    told apart by its kind, in columns (kind, customer or vendor id, text, text, time, time,
    five numbers). Built once, with the parameters of `tallies.tally_params` and `KEY_HASH`."""
    c, s, g, k = CUSTOMERS.c, SUBSCRIPTIONS.c, GRANTS.c, API_KEYS.c
    ids, now = tallies.IDS, tallies.NOW
    # Typed NULLs: PostgreSQL settles a UNION's column types pair by pair.
    text = sa.cast(sa.null(), sa.String)
    time = sa.cast(sa.null(), UTCDateTime)
    number = sa.cast(sa.null(), Amount)
    valid_key = sa.and_(k.hash == KEY_HASH, k.revoked_at.is_(None))
    caller = sa.select(
        sa.literal_column("'vendor'"), k.vendor_id, text, text, time, time, *[number] * 5
    ).where(valid_key)
    vendor = sa.select(k.vendor_id).where(valid_key).scalar_subquery()
    in_force = sa.and_(
        s.customer_id == c.id, s.starts_at <= now, sa.or_(s.ends_at.is_(None), s.ends_at > now)
    )
    terms = (
        sa.select(
            sa.literal_column("'terms'"),
            c.id,
            s.plan_version_id,
            c.spend_limit_on_reach,
            s.starts_at,
            s.ends_at,
            c.spend_limit_amount,
            *[number] * 4,
        )
        .select_from(CUSTOMERS.outerjoin(SUBSCRIPTIONS, in_force))
        .where(c.vendor_id == vendor, c.id.in_(ids))
    )
    credit = (
        sa.select(
            sa.literal_column("'credit'"),
            g.customer_id,
            g.currency,
            text,
            time,
            time,
            sa.func.sum(g.remaining),
            *[number] * 4,
        )
        .where(
            g.customer_id.in_(ids),
            g.status == GrantStatus.ACTIVE.value,
            g.effective_at <= now,
            sa.or_(g.expires_at.is_(None), g.expires_at > now),
        )
        .group_by(g.customer_id, g.currency)
    )
    counts = sa.union_all(*tallies.tally_selects(latest=True)).subquery()
    n = list(counts.c)
    tallied = sa.select(sa.literal_column("'tally'"), n[0], n[1], text, n[2], time, *n[3:])
    return sa.union_all(caller, terms, credit, tallied)


def snapshot(
    session: Session, key_hash: str, customer_ids: Collection[str], now: datetime
) -> Snapshot:
    """The vendor of the API key hashed `key_hash`, and the terms, credit and tallies of its
    customers among `customer_ids` as of `now`, in one statement."""
    params = tallies.tally_params(customer_ids, now) | {"key_hash": key_hash}
    found = Snapshot()
    rows: list[tuple[Any, ...]] = []
    for kind, owner, text, on_reach, at, ends_at, *numbers in session.execute(_statement(), params):
        if kind == "vendor":
            found.vendor_id = owner
        elif kind == "terms":
            amount = None if numbers[0] is None else exact_decimal(numbers[0])
            found.terms[owner] = CustomerTerms(owner, amount, on_reach, text, at, ends_at)
        elif kind == "credit":
            found.credit[(owner, text)] = exact_decimal(numbers[0])
        else:
            rows.append((owner, text, at, *numbers))
    for (customer_id, outcome, start), tally in tallies.fold(rows).items():
        found.tallies.setdefault((customer_id, start), {})[outcome] = tally
    return found
