"""What "the database is unchanged" means, per backend.

SQLite: the bytes of the database file (sha256), taken once every connection is closed so
the WAL is checkpointed into it, and the WAL left empty. PostgreSQL: every table's row
count and an md5 over its rows in text form.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from metering.surfaces.tables import metadata


def fingerprint(engine: Engine) -> dict[str, object]:
    if engine.dialect.name == "sqlite":
        engine.dispose()  # the last connection out checkpoints the WAL into the file
        database = Path(str(make_url(str(engine.url)).database))
        wal = database.with_name(database.name + "-wal")
        return {
            "sha256": hashlib.sha256(database.read_bytes()).hexdigest(),
            "wal_bytes": wal.stat().st_size if wal.exists() else 0,
        }
    found: dict[str, object] = {}
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            count, digest = connection.execute(
                sa.text(
                    f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), "
                    f"'')) FROM {table.name} AS t"
                )
            ).one()
            found[table.name] = (count, digest)
    return found
