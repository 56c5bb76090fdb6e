"""What every console page shares: the layout's values, the CSRF check of its forms, amounts
for reading, the page shown for a refused or unknown object, and keyset pages in which one
kind of row comes first (failed payments, failed deliveries).

Another vendor's object is answered exactly as a missing one (404), as the API does: the
services' `get_or_404` raise the problem, and `problem_page` shows it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from fastapi import Request
from fastapi.responses import HTMLResponse
from sqlmodel import Session
from sqlmodel.sql.expression import SelectOfScalar

from metering.platform.api import problems
from metering.platform.api.pagination import decode_cursor, encode_cursor, paginate
from metering.platform.api.problems import ProblemError
from metering.platform.web.templating import render
from metering.surfaces.vendor_web import margin_pages
from metering.surfaces.vendor_web.auth import VendorContext, csrf_valid
from pricing_rules.engine import decimal_text

Row = TypeVar("Row")
PAGE_SIZE = 50
EXPIRED_FORM = (
    "This form has expired or was not sent from this console. Open the page again and retry."
)


def money(amount: Decimal | str, currency: str) -> str:
    """An amount for reading, as the margin page shows them (an API amount is a string)."""
    return margin_pages.money(Decimal(amount), currency)


def when(instant: datetime | None) -> str:
    """An instant for reading, in UTC (the console's one zone)."""
    return "" if instant is None else instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def values(context: VendorContext, active: str, **more: Any) -> dict[str, Any]:
    """The layout's values (who is signed in, the form token, the current section)."""
    return {
        "vendor": context.vendor,
        "csrf_token": context.csrf_token,
        "active_page": active,
        "money": money,
        "when": when,
        "number": decimal_text,
        **more,
    }


def message_page(
    request: Request,
    context: VendorContext,
    title: str,
    detail: str,
    status_code: int,
    back: str,
) -> HTMLResponse:
    return render(
        request,
        "vendor/message.html",
        values(context, "", title=title, detail=detail, back=back),
        status_code=status_code,
    )


def problem_page(
    request: Request, context: VendorContext, error: ProblemError, back: str
) -> HTMLResponse:
    """A service's problem as a page with the same status (404 for another vendor's id)."""
    return message_page(request, context, error.title, error.detail, error.status, back)


def check_csrf(context: VendorContext, token: str | None) -> None:
    """Refuse a form this console did not send (403), before anything is read or changed."""
    if not csrf_valid(context, token):
        raise problems.plain(403).error(EXPIRED_FORM)


@dataclass(frozen=True, slots=True)
class KeysetPage(Generic[Row]):
    """One page of rows in ascending key order, with the cursors of its neighbours."""

    rows: Sequence[Row]
    next_cursor: str | None
    previous_cursor: str | None


def keyset_page(
    session: Session,
    statement: SelectOfScalar[Row],
    key: Any,
    after: str | None,
    before: str | None,
    limit: int = PAGE_SIZE,
) -> KeysetPage[Row]:
    """The page after `after` (or before `before`, or the first) in ascending `key` order:
    `paginate` with a way back, so a long list can be walked both ways."""
    if before is None:
        rows, next_cursor = paginate(session, statement, key, after, limit)
        previous = encode_cursor(getattr(rows[0], key.key)) if after and rows else None
        return KeysetPage(rows, next_cursor, previous)
    bound = decode_cursor(before)
    found = session.exec(statement.where(key < bound).order_by(key.desc()).limit(limit + 1)).all()
    rows = list(reversed(found[:limit]))
    previous = encode_cursor(getattr(rows[0], key.key)) if len(found) > limit else None
    return KeysetPage(rows, encode_cursor(getattr(rows[-1], key.key)) if rows else None, previous)


def first_then_newest(
    session: Session,
    statement: SelectOfScalar[Row],
    status: Any,
    first: str,
    key: Any,
    cursor: str | None,
    limit: int = PAGE_SIZE,
) -> tuple[Sequence[Row], str | None]:
    """Rows whose `status` column is `first` (failed ones) before the others, each group
    newest (highest `key`) first, a page at a time; the cursor names the last row's group
    and key."""
    rank = sa.case((status == first, 0), else_=1)
    if cursor is not None:
        value = decode_cursor(cursor)
        group, _, after = str(value).partition(":")
        if group not in ("0", "1") or not after:
            raise problems.INVALID_CURSOR.error(f"cursor '{cursor}' was not issued by this page")
        statement = statement.where(
            sa.or_(rank > int(group), sa.and_(rank == int(group), key < after))
        )
    rows = session.exec(statement.order_by(rank, key.desc()).limit(limit + 1)).all()
    if len(rows) <= limit:
        return rows, None
    page = rows[:limit]
    last = page[-1]
    last_group = 0 if getattr(last, status.key) == first else 1
    return page, encode_cursor(f"{last_group}:{getattr(last, key.key)}")
