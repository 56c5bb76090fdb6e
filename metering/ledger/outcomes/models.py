"""Outcome rows: one per (event, outcome) candidate, the reversals that cancel them, and the
closed periods whose outcomes changed since their close."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from metering.ledger.states import COUNTED
from metering.platform.db.types import Amount, BigIntKey, UTCDateTime, utcnow
from pricing_rules.engine import decimal_text


class Outcome(SQLModel, table=True):
    """A candidate outcome; at most one `counted` row per (customer, outcome, period, key).

    `state` is an `OutcomeState` (what it is now); what each means, and when a row is
    pending or billable as of an instant (its counted span), is `metering.ledger.states`.
    """

    __tablename__ = "outcomes"
    __table_args__ = (
        sa.Index(
            "uq_outcomes_counted_key",
            "customer_id",
            "outcome",
            "period_start",
            "dedupe_key",
            unique=True,
            sqlite_where=sa.text(COUNTED.text()),
            postgresql_where=sa.text(COUNTED.text()),
        ),
        sa.Index("ix_outcomes_key", "customer_id", "outcome", "period_start", "dedupe_key"),
        # Match key first: key lookups (customer, outcome, ...) must not take this index.
        sa.Index("ix_outcomes_match", "match_key", "customer_id", "outcome"),
        sa.Index("ix_outcomes_event_pk", "event_pk"),
        # The portal lists a customer's outcomes newest first, a page at a time.
        sa.Index("ix_outcomes_customer_time", "customer_id", "occurred_at", "id"),
        # The portal's pending outcomes: the next to settle and the last one to settle.
        sa.Index("ix_outcomes_customer_settles", "customer_id", "settles_at", "id"),
    )

    id: int | None = Field(default=None, sa_type=BigIntKey, primary_key=True)
    # Copies of the event's (one foreign key, to the event, which has the other three).
    vendor_id: str = Field(max_length=40)
    customer_id: str = Field(max_length=40)
    plan_version_id: str = Field(max_length=40)
    event_pk: int = Field(sa_type=BigIntKey, foreign_key="events.pk")
    event_id: str = Field(max_length=200)
    outcome: str = Field(max_length=200)
    period_start: datetime = Field(sa_type=UTCDateTime, nullable=False)
    period_end: datetime = Field(sa_type=UTCDateTime, nullable=False)
    dedupe_key: str = Field(sa_type=sa.Text)
    match_key: str | None = Field(default=None, sa_type=sa.Text)
    occurred_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    value: Decimal | None = Field(default=None, sa_type=Amount)
    value_text: str | None = Field(default=None, sa_type=sa.Text)
    # The value of the `group_by` path a charge prices this outcome by (None: no such
    # charge, or the event had no value there).
    dimension: str | None = Field(default=None, sa_type=sa.Text)
    problem: str | None = Field(default=None, sa_type=sa.Text)
    settles_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    state: str = Field(max_length=32)
    # A verified outcome's end of its confirmation window (`settle.confirmed_by.within`).
    verify_by: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    # When it is its key's billed outcome: [counted_from, counted_until), open when None
    # (`metering.ledger.states`); counted_from None: never.
    counted_from: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    counted_until: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)

    def measured(self) -> str | None:
        """The measured value as the API shows it: a decimal string (`12.5`, as amounts
        are), the text a `unique` measure keeps, or None for a count."""
        return decimal_text(self.value) if self.value is not None else self.value_text


class OutcomeReversal(SQLModel, table=True):
    """An event's claim on every candidate of `(customer, outcome, match_key)`: a reversal,
    a rejection or a confirmation (`kind`, a `pricing_rules.outcomes.ClaimKind`)."""

    __tablename__ = "outcome_reversals"
    __table_args__ = (
        sa.Index("ix_outcome_reversals_match", "customer_id", "outcome", "match_key"),
        sa.Index("ix_outcome_reversals_event_pk", "event_pk"),
    )

    id: int | None = Field(default=None, sa_type=BigIntKey, primary_key=True)
    # Copies of the event's, as on `Outcome`.
    vendor_id: str = Field(max_length=40)
    customer_id: str = Field(max_length=40)
    outcome: str = Field(max_length=200)
    match_key: str = Field(sa_type=sa.Text)
    occurred_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    event_pk: int = Field(sa_type=BigIntKey, foreign_key="events.pk")
    voided: bool = Field(default=False)
    kind: str = Field(
        default="reversal", max_length=20, sa_column_kwargs={"server_default": "reversal"}
    )


class StalePeriod(SQLModel, table=True):
    """A period whose outcomes changed after it was closed (or still had pending outcomes).

    Written where outcome rows change; the customer's next close re-rates it and bills the
    difference as credit or adjustment lines, then deletes the mark.
    """

    __tablename__ = "stale_periods"

    customer_id: str = Field(foreign_key="customers.id", primary_key=True, max_length=40)
    period_start: datetime = Field(sa_type=UTCDateTime, primary_key=True)
    vendor_id: str = Field(foreign_key="vendors.id", max_length=40)
    # Bumped by every new mark: a re-rate deletes the mark only at the generation it read,
    # so a change committed while it ran is never forgotten.
    generation: int = Field(default=1)
    marked_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
