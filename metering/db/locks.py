"""Transaction-scoped locks on names, so writers of the same outcome keys take turns.

PostgreSQL: advisory transaction locks, taken in one sorted order (no deadlocks between
two writers), released at commit. SQLite: writes are already serialised (every transaction
begins IMMEDIATE, see `metering.db.engine`), so there is nothing to take.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import sqlalchemy as sa
from sqlmodel import Session


def lock_id(*parts: str) -> int:
    """A stable signed 64-bit number for a name made of `parts`."""
    digest = hashlib.blake2b("\x00".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def lock_names(session: Session, names: Iterable[tuple[str, ...]]) -> None:
    """Hold a lock on each name until the transaction ends."""
    if session.get_bind().dialect.name != "postgresql":
        return
    ids = sorted({lock_id(*name) for name in names})
    if ids:
        session.execute(
            sa.text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:ids AS BIGINT[])) AS t(k)"),
            {"ids": ids},
        )
