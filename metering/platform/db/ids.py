"""Public identifiers like `cus_01J9...`: a type prefix, then time-ordered random text."""

from __future__ import annotations

import base64
import secrets
import threading
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_RANDOM_BITS = 80

# base64's RFC 4648 digits, in value order, to ours: encoding in C instead of a Python loop.
_FROM_RFC4648 = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", _ALPHABET)

_lock = threading.Lock()
_last = (0, 0)


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
    # 10 digits of milliseconds and 16 of randomness are 130 bits: the low bits of 20 bytes,
    # whose first 6 of 32 digits are the 30 zero bits above them.
    raw = ((millis << _RANDOM_BITS) | random).to_bytes(20, "big")
    return f"{prefix}_{base64.b32encode(raw)[6:].decode().translate(_FROM_RFC4648)}"
