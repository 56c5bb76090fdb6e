"""When a sync that failed for a passing reason is due again."""

from __future__ import annotations

import random
from datetime import datetime, timedelta


def backoff(
    now: datetime, attempts: int, base: timedelta, cap: timedelta, rng: random.Random | None = None
) -> datetime:
    """When attempt number `attempts + 1` is due: base * 2^attempts, capped, "equal jitter"
    (between half and all of that delay, so workers retrying together spread out)."""
    delay = min(cap, base * (2 ** min(attempts, 30)))
    fraction = 0.5 + 0.5 * (rng.random() if rng is not None else random.random())
    due: datetime = now + delay * fraction
    return due
