"""Amounts come back from the database exactly as stored, on SQLite as on PostgreSQL.

SQLite keeps NUMERIC as REAL; read back through a 12-place format, 1234567.89 became
1234567.889999999898, and a correction computed from it was a fraction of a cent off.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from metering.platform.db.types import Amount

AMOUNTS = [
    Decimal("1234567.89"),
    Decimal("98765432.10"),
    Decimal("0.1"),
    Decimal("-198.00"),
    Decimal("0.000001"),
    Decimal("12345678901234.56"),
]


@pytest.fixture
def table(engine: Engine) -> Iterator[sa.Table]:
    metadata = sa.MetaData()
    amounts = sa.Table(
        "exact_amounts",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("amount", Amount),
    )
    metadata.create_all(engine)
    yield amounts
    metadata.drop_all(engine)


def test_amounts_read_back_exactly(engine: Engine, table: sa.Table) -> None:
    with engine.begin() as connection:
        connection.execute(table.insert(), [{"amount": amount} for amount in AMOUNTS])
        stored = connection.execute(sa.select(table.c.amount).order_by(table.c.id)).scalars()
        assert [amount.normalize() for amount in stored] == [a.normalize() for a in AMOUNTS]


def test_sums_of_stored_amounts_are_exact_to_the_cent(engine: Engine, table: sa.Table) -> None:
    with engine.begin() as connection:
        connection.execute(table.insert(), [{"amount": Decimal("1234567.89")}] * 3)
        stored = list(connection.execute(sa.select(table.c.amount)).scalars())
    assert sum(stored, Decimal(0)) - Decimal("3703703.67") == 0
