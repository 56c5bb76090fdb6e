"""The event as the pure core sees it: already parsed, timestamp aware and in UTC."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Event:
    """One outcome or cost event; immutable, like the stored row it mirrors."""

    id: str
    type: str
    customer: str
    timestamp: datetime
    properties: dict[str, Any] = field(default_factory=dict)
    cost: dict[str, Any] | None = None
