"""The columns and rows the state rules read, as protocols: a table, any selectable with the same
column names, or a row in memory."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa

T = TypeVar("T")
Instant = datetime | sa.ColumnElement[Any]
"""An as-of time: a value, or a clause (a placeholder when a rule is written out as text)."""


class StateColumns(Protocol):
    @property
    def state(self) -> sa.ColumnElement[Any]: ...


class SettleColumns(Protocol):
    @property
    def settles_at(self) -> sa.ColumnElement[Any]: ...


class OutcomeColumns(StateColumns, SettleColumns, Protocol):
    """The columns of outcome rows: `Outcome.__table__.c` or a selectable's `.c`."""

    @property
    def counted_from(self) -> sa.ColumnElement[Any]: ...

    @property
    def counted_until(self) -> sa.ColumnElement[Any]: ...

    @property
    def verify_by(self) -> sa.ColumnElement[Any]: ...


class SpanColumns(SettleColumns, Protocol):
    """The columns that say when a row bills: its settle time and its counted span."""

    @property
    def counted_from(self) -> sa.ColumnElement[Any]: ...

    @property
    def counted_until(self) -> sa.ColumnElement[Any]: ...


class HasState(Protocol):
    @property
    def state(self) -> str: ...


class OutcomeRow(HasState, Protocol):
    """An outcome row in memory: an `Outcome`, a result row, anything with these fields."""

    @property
    def settles_at(self) -> datetime: ...

    @property
    def counted_from(self) -> datetime | None: ...

    @property
    def counted_until(self) -> datetime | None: ...

    @property
    def verify_by(self) -> datetime | None: ...


class SpanRow(Protocol):
    """A row's settle time and counted span in memory."""

    @property
    def settles_at(self) -> datetime: ...

    @property
    def counted_from(self) -> datetime | None: ...

    @property
    def counted_until(self) -> datetime | None: ...


class StatusColumns(Protocol):
    """The columns of stored events: `StoredEvent.__table__.c`."""

    @property
    def status(self) -> sa.ColumnElement[Any]: ...


class HasStatus(Protocol):
    @property
    def status(self) -> str: ...


class BareColumns:
    """Unqualified column names, to write a rule out as SQL text."""

    state: sa.ColumnElement[Any] = sa.column("state")
    settles_at: sa.ColumnElement[Any] = sa.column("settles_at")
    counted_from: sa.ColumnElement[Any] = sa.column("counted_from")
    counted_until: sa.ColumnElement[Any] = sa.column("counted_until")
    verify_by: sa.ColumnElement[Any] = sa.column("verify_by")


def sql_text(clause: sa.ColumnElement[bool]) -> str:
    return str(clause.compile(compile_kwargs={"literal_binds": True}))
