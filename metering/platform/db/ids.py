"""Public identifiers like `cus_01J9...`: a type prefix, then time-ordered random text."""

from __future__ import annotations

import secrets
import threading
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_RANDOM_BITS = 80

_lock = threading.Lock()
_last = (0, 0)


def _base32(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, digit = divmod(number, 32)
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars))


def _next_stamp() -> tuple[int, int]:
    """(millis, random) strictly above the last one this process made.

    Two ids made in the same millisecond would otherwise sort by chance, so a page of
    events or deliveries ordered by id could show the later one first; like a monotonic
    ULID, the random part is incremented instead within a millisecond (or when the
    clock steps back).
    """
    global _last
    millis = time.time_ns() // 1_000_000
    with _lock:
        last_millis, last_random = _last
        if millis > last_millis:
            stamp = (millis, secrets.randbits(_RANDOM_BITS - 1))
        elif last_random + 1 < 1 << _RANDOM_BITS:
            stamp = (last_millis, last_random + 1)
        else:
            stamp = (last_millis + 1, secrets.randbits(_RANDOM_BITS - 1))
        _last = stamp
        return stamp


def new_id(prefix: str) -> str:
    """A new id sorting by creation time (so cursors over ids follow creation order)."""
    millis, random = _next_stamp()
    return f"{prefix}_{_base32(millis, 10)}{_base32(random, 16)}"
