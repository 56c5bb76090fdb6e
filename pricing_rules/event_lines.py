"""A JSON-lines events file, read whole or not at all.

Pricing half a file would print a wrong bill that looks right, so every bad line is collected
with its number and the caller refuses to price when there is any.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from pricing_rules.event_json import EventFormatError, event_from_json
from pricing_rules.events import Event


@dataclass(frozen=True, slots=True)
class LineError:
    line: int
    message: str


class EventLinesError(Exception):
    def __init__(self, errors: list[LineError]) -> None:
        self.errors = errors
        super().__init__("\n".join(f"line {e.line}: {e.message}" for e in errors))


def read_event_lines(lines: Iterable[str]) -> list[Event]:
    """Parse every non-blank line; an exact repeat of an id is a retry and read once."""
    events: list[Event] = []
    errors: list[LineError] = []
    seen: dict[str, tuple[int, Event]] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line, parse_float=Decimal)
        except json.JSONDecodeError as exc:
            errors.append(LineError(number, f"invalid JSON: {exc.msg} (column {exc.colno})"))
            continue
        try:
            event = event_from_json(item)
        except EventFormatError as exc:
            errors.append(LineError(number, str(exc)))
            continue
        first = seen.get(event.id)
        if first is None:
            seen[event.id] = (number, event)
            events.append(event)
        elif first[1] != event:
            # Same id, other content: the idempotency key is broken, never pick one silently.
            errors.append(
                LineError(
                    number,
                    f"id {event.id!r} was already used on line {first[0]} with different content",
                )
            )
    if errors:
        raise EventLinesError(errors)
    return events
