"""Dotted paths into an event (`properties.a.b`, `customer`, `type`), compiled once.

A path is validated when the rule file loads and turned into a getter closure, so the
per-event cost is a few dict lookups. `MISSING` distinguishes an absent value from JSON null.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any, Final

from pydantic import AfterValidator

from pricing_rules.events import Event

SEGMENT_PATTERN: Final = r"[A-Za-z0-9_\-$@]+"
NESTED_PATTERN: Final = rf"(?:properties|cost)(?:\.{SEGMENT_PATTERN})+"
PATH_PATTERN: Final = rf"^(?:id|type|customer|timestamp|{NESTED_PATTERN})$"
_PATH_RE = re.compile(PATH_PATTERN)


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()

Getter = Callable[[Event], Any]


def check_path(value: str) -> str:
    """Raise a ValueError saying what a path looks like, for the rule-file loader."""
    if not isinstance(value, str) or not _PATH_RE.match(value):
        raise ValueError(
            f"{value!r} is not an event path; expected one of id, type, customer, timestamp, "
            "or a dotted path under properties or cost such as properties.conversation_id"
        )
    return value


Path = Annotated[str, AfterValidator(check_path)]


def segments(path: str) -> tuple[str, ...]:
    """The path split into its root field and the keys below it."""
    return tuple(path.split("."))


def top_property(path: str) -> str | None:
    """The key of a path one level under `properties` (the common case, one dict lookup that
    a hot closure may do itself), else None."""
    root, *rest = segments(path)
    return rest[0] if root == "properties" and len(rest) == 1 else None


def compile_getter(path: str) -> Getter:
    """A closure reading `path` from an event; returns MISSING when any step is absent."""
    root, *rest = segments(check_path(path))
    if not rest:

        def get_field(event: Event) -> Any:
            return getattr(event, root)

        return get_field
    if root == "properties" and len(rest) == 1:
        (only,) = rest  # the common case, one dict lookup

        def get_top(event: Event) -> Any:
            return event.properties.get(only, MISSING)

        return get_top
    keys = tuple(rest)

    def get_nested(event: Event) -> Any:
        value: Any = getattr(event, root)
        for key in keys:
            if not isinstance(value, dict):
                return MISSING
            value = value.get(key, MISSING)
            if value is MISSING:
                return MISSING
        return value

    return get_nested


def canonical_key(value: Any) -> str:
    """The text a dedupe or match key is compared and stored as: stable across JSON types.

    Numbers are written in one form whatever their JSON spelling, so 7, 7.0 and "7.0" as a
    Decimal all name the same conversation; strings are kept as they are.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        number = Decimal(repr(value)) if isinstance(value, float) else value
        if number.is_finite():
            return format(number.normalize(), "f")
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
