"""Bad input stops at the edge, as a 422 naming the field, before anything reaches a query.

What no column can hold is refused here, whatever the route:
- text with a NUL character (PostgreSQL refuses it in text) or an unpaired surrogate (not
  encodable as UTF-8, so no database stores it);
- JSON nested deeper than `MAX_JSON_DEPTH` levels below a field (and JSON nested so deep
  that it cannot be decoded at all), and numbers that are not finite (`NaN`, `Infinity`);
- numbers beyond their column (`StoredInt`, `StoredAmount`) and instants beyond the calendar
  (`Instant`), through the shared field types the request schemas use.

`check_request` is a dependency of every route (`create_app`): it checks path and query
parameters and the JSON or form body FastAPI read. The event doors read their body
themselves and check each event with `json_fault`, so a bad event is one rejected item of
its batch while the others are stored.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Request
from pydantic import AfterValidator, AwareDatetime, Field

from metering.platform.api import problems

MAX_JSON_DEPTH = 32
"""How many levels of objects and arrays a field's JSON value may nest (README, API)."""

INT_MAX = 2**31 - 1
"""The largest value of an INTEGER column (plan versions, counts)."""

StoredInt = Annotated[int, Field(ge=-INT_MAX - 1, le=INT_MAX)]
"""An integer an INTEGER column holds."""

StoredAmount = Annotated[Decimal, Field(max_digits=38, decimal_places=12, allow_inf_nan=False)]
"""A decimal an amount column holds: NUMERIC(38, 12), so 26 digits before the point."""


def _within_calendar(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value  # the route says which timezone to add
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is outside the years 1 to 9999 once converted to UTC") from None
    return value


CalendarTime = Annotated[datetime, AfterValidator(_within_calendar)]
"""A time that, converted to UTC, stays within the years a datetime holds."""

Instant = Annotated[AwareDatetime, AfterValidator(_within_calendar)]
"""A time with its timezone (a `CalendarTime`)."""


def field_name(loc: Sequence[str | int]) -> str:
    """`("body", "events", 3, "id")` -> `events[3].id`; query and path fields keep their source."""
    parts = list(loc)
    prefix = ""
    if parts and parts[0] == "body":
        parts = parts[1:]
    elif parts and parts[0] in ("query", "path", "header", "cookie"):
        prefix = f"{parts[0]} parameter "
        parts = parts[1:]
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return prefix + (text or "body")


@dataclass(frozen=True, slots=True)
class Fault:
    """What is wrong with one field of a request."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def text_fault(text: str) -> str | None:
    """Why `text` cannot be stored, or None."""
    if "\x00" in text:
        return "contains a NUL character (\\u0000), which cannot be stored"
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(text[exc.start])
        return f"contains an unpaired surrogate (\\u{code:04x}), which is not Unicode text"
    return None


def _scalar_fault(value: Any) -> str | None:
    if isinstance(value, str):
        return text_fault(value)
    finite = math.isfinite(value) if isinstance(value, float) else True
    if isinstance(value, Decimal):
        finite = value.is_finite()
    if not finite:
        return f"{value} is not a finite number (NaN and Infinity are not JSON)"
    return None


def json_fault(
    value: Any, where: tuple[str | int, ...] = (), max_depth: int = MAX_JSON_DEPTH
) -> Fault | None:
    """The first fault in a decoded JSON value, named by its path below `where`.

    Objects and arrays may nest `max_depth` levels below each member of the value (the
    value itself is the level above them). Iterative: any depth is walked without recursion,
    and a path is made only for the objects and arrays it goes through (ingestion checks
    every event this way).
    """
    if not isinstance(value, dict | list):
        reason = _scalar_fault(value)
        return Fault(field_name(where), reason) if reason else None
    stack: list[tuple[dict[Any, Any] | list[Any], tuple[str | int, ...], int]] = [(value, where, 0)]
    while stack:
        container, path, depth = stack.pop()
        if depth > max_depth:
            top = path[: len(where) + 1]
            return Fault(field_name(top), f"JSON nested more than {max_depth} levels deep")
        members: Any = container.items() if isinstance(container, dict) else enumerate(container)
        for key, member in members:
            if isinstance(key, str) and (reason := text_fault(key)):
                return Fault(field_name(path), f"a member name {reason}")
            if isinstance(member, dict | list):
                stack.append((member, (*path, key), depth + 1))
            elif reason := _scalar_fault(member):
                return Fault(field_name((*path, key)), reason)
    return None


def _json_media_type(content_type: str) -> bool:
    """What FastAPI decodes as JSON (nothing without a Content-Type: it is strict)."""
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or kind.endswith("+json")


async def _body_fault(request: Request) -> Fault | None:
    route = request.scope.get("route")
    body_field = getattr(route, "body_field", None)
    if body_field is None:
        return None  # the route reads its body itself, or takes none
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()  # already parsed by FastAPI: read from its cache
        for name, member in form.multi_items():
            reason = text_fault(member) if isinstance(member, str) else None
            if reason:
                return Fault(name, reason)
        return None
    if not await request.body() or not _json_media_type(content_type):
        return None
    return json_fault(await request.json())  # decoded once, by FastAPI, and cached


async def check_request(request: Request) -> None:
    """Refuse, with a 422 naming the field, input that no column can hold."""
    faults: list[Fault] = []
    for name, value in request.path_params.items():
        reason = text_fault(value) if isinstance(value, str) else None
        if reason:
            faults.append(Fault(f"path parameter {name}", reason))
    for name, value in request.query_params.multi_items():
        reason = text_fault(value)
        if reason:
            faults.append(Fault(f"query parameter {name}", reason))
    body = await _body_fault(request)
    if body is not None:
        faults.append(body)
    if faults:
        raise invalid_fields(faults)


def invalid_fields(faults: Sequence[Fault]) -> problems.ProblemError:
    """The 422 naming each faulty field, as a refused request schema is answered."""
    items = [{"field": fault.field, "message": fault.message} for fault in faults]
    return problems.INVALID_REQUEST.error(
        "; ".join(str(fault) for fault in faults), extra={"errors": items}
    )
