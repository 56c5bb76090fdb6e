"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware timestamp stored in UTC; SQLite gives it back aware too."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: store aware datetimes only")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Bigint keys that still autoincrement on SQLite (only INTEGER PRIMARY KEY does there).
BigIntKey = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def exact_decimal(raw: Any) -> Decimal:
    """A stored number as an exact Decimal.

    SQLite keeps NUMERIC values as REAL (15 significant digits): the shortest decimal that
    reads back as the same float is the number that was stored, where formatting the float
    to 12 places would show 1234567.89 as 1234567.889999999898.
    """
    if isinstance(raw, Decimal):
        return raw
    if isinstance(raw, float):
        return Decimal(repr(raw))
    if isinstance(raw, int):
        return Decimal(raw)
    return Decimal(str(raw))


class ExactNumeric(sa.TypeDecorator[Decimal]):
    """NUMERIC(38, 12) that gives back exactly the decimal stored, on SQLite too."""

    impl = sa.Numeric(38, 12)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.Numeric(38, 12, asdecimal=False))
        return dialect.type_descriptor(sa.Numeric(38, 12))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None or dialect.name != "sqlite":
            return value
        return str(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else exact_decimal(value)


# Money, quantities and measured values: exact decimals, never float.
Amount = ExactNumeric()
AMOUNT_INTEGER_DIGITS = 38 - 12


def fits_amount(value: Decimal) -> bool:
    """Whether an `Amount` column holds `value`: finite, under 10^26 in magnitude."""
    return value.is_finite() and (value.is_zero() or value.adjusted() < AMOUNT_INTEGER_DIGITS)


def utcnow() -> datetime:
    """Now, aware, in UTC (the only clock read in the storage layer)."""
    return datetime.now(UTC)


class IdList(sa.TypeDecorator[list[int]]):
    """A list of row ids kept on one row: `bigint[]` on PostgreSQL, a JSON array elsewhere.

    An invoice line keeps the ids of the outcomes it counted this way, so closing a period
    writes one value per line instead of one link row per outcome.
    """

    impl = sa.JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import ARRAY

            return dialect.type_descriptor(ARRAY(sa.BigInteger()))
        return dialect.type_descriptor(sa.JSON())

    def process_bind_param(self, value: list[int] | None, dialect: Dialect) -> Any:
        return None if value is None else [int(v) for v in value]

    def process_result_value(self, value: Any, dialect: Dialect) -> list[int] | None:
        return None if value is None else [int(v) for v in value]
