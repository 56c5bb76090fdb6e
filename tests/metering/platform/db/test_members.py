"""`one_of` selects the same rows as an IN list, on SQLite as on PostgreSQL (where it is one
array parameter), whatever the list, and a cached statement takes each call's own values."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from metering.platform.db.members import one_of


@pytest.fixture
def table(engine: Engine) -> Iterator[sa.Table]:
    metadata = sa.MetaData()
    names = sa.Table(
        "member_names",
        metadata,
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("name", sa.String(40)),
    )
    metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(names.insert(), [{"id": n, "name": f"n{n}"} for n in range(1, 1201)])
    yield names
    metadata.drop_all(engine)


@pytest.mark.parametrize(
    "wanted", [[], ["n3"], ["n2", "n7", "nobody"], [f"n{n}" for n in range(1, 1100)]]
)
def test_one_of_selects_what_an_in_list_selects(
    engine: Engine, table: sa.Table, wanted: list[str]
) -> None:
    with engine.connect() as connection:
        by_name = sa.select(table.c.id).where(one_of(table.c.name, wanted))
        found = sorted(connection.execute(by_name).scalars())
        expected = sorted(
            connection.execute(sa.select(table.c.id).where(table.c.name.in_(wanted))).scalars()
        )
        by_id = sa.select(table.c.name).where(one_of(table.c.id, found), table.c.id > 1)
        names = set(connection.execute(by_id).scalars())
    assert found == expected
    assert names == {f"n{n}" for n in found if n > 1}
