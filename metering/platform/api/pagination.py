"""Cursor pagination: opaque cursors over one unique, ordered column.

Ids are time-ordered (`metering.platform.db.ids`), so listing by id follows creation order; plan
versions page by their number. A cursor is the last value seen, base64-encoded JSON, so a
client cannot mistake it for an offset and inserts never shift a page.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlmodel import Session
from sqlmodel.sql.expression import SelectOfScalar

from metering.platform.api import problems
from metering.platform.api.problems import ProblemError

T = TypeVar("T")
Row = TypeVar("Row")

DEFAULT_LIMIT = 100
MAX_LIMIT = 500

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Page size, 1 to {MAX_LIMIT}.")]
Cursor = Annotated[
    str | None, Query(description="`next_cursor` of the previous page; omit for the first.")
]


class Page(BaseModel, Generic[T]):
    """One page of a list; `next_cursor` is null on the last page."""

    data: list[T]
    next_cursor: str | None


def invalid_cursor(cursor: str, reason: str) -> ProblemError:
    """The 400 for a cursor a list cannot continue from; `reason` says why."""
    return problems.INVALID_CURSOR.error(
        f"cursor '{cursor}' {reason}; pass `next_cursor` of a previous page."
    )


def encode_cursor(value: str | int) -> str:
    raw = json.dumps([value], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> str | int:
    """The last value of the previous page, or a 400 problem for a cursor we did not issue."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value: Any = json.loads(raw)
    except (binascii.Error, ValueError):
        value = None
    if (
        isinstance(value, list)
        and len(value) == 1
        and isinstance(value[0], str | int)
        and not isinstance(value[0], bool)
    ):
        return value[0]
    raise invalid_cursor(cursor, "was not issued by this API")


def paginate(
    session: Session,
    statement: SelectOfScalar[Row],
    key: Any,
    cursor: str | None,
    limit: int,
) -> tuple[Sequence[Row], str | None]:
    """Rows of `statement` after `cursor` in ascending `key` order, and the next cursor.

    `key` is a unique mapped column (`col(Customer.id)`); its value on the last row of the
    page becomes the next cursor.
    """
    if cursor is not None:
        statement = statement.where(key > decode_cursor(cursor))
    rows = session.exec(statement.order_by(key).limit(limit + 1)).all()
    if len(rows) <= limit:
        return rows, None
    page = rows[:limit]
    return page, encode_cursor(getattr(page[-1], key.key))
