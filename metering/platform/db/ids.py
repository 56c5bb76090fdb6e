"""Public identifiers like `cus_01J9...`: a type prefix, then time-ordered random text."""

from __future__ import annotations

import secrets
import threading
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_RANDOM_BITS = 80

# Every 10-bit value as its two digits: an id is 13 lookups (base64's b32encode is a
# Python loop, 2.5x slower).
_PAIRS = [high + low for high in _ALPHABET for low in _ALPHABET]
_SHIFTS = range(120, -1, -10)
_LOW_40 = (1 << 40) - 1

_lock = threading.Lock()
_last = (0, 0)


def _stamps(count: int) -> tuple[int, int]:
    """(millis, random) of the first of `count` stamps in a row (random, random + 1, ...),
    strictly above the last one this process made.

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
            first = (millis, secrets.randbits(_RANDOM_BITS - 1))
        elif last_random + count < 1 << _RANDOM_BITS:
            first = (last_millis, last_random + 1)
        else:
            first = (last_millis + 1, secrets.randbits(_RANDOM_BITS - 1))
        _last = (first[0], first[1] + count - 1)
        return first


def new_id(prefix: str) -> str:
    """A new id sorting by creation time (so cursors over ids follow creation order)."""
    millis, random = _stamps(1)
    # 10 digits of milliseconds and 16 of randomness: 130 bits, 13 pairs of digits.
    value = (millis << _RANDOM_BITS) | random
    return f"{prefix}_{''.join([_PAIRS[(value >> shift) & 1023] for shift in _SHIFTS])}"


def new_ids(prefix: str, count: int) -> list[str]:
    """`count` new ids, increasing, as `count` calls of `new_id` would make them, at a
    fraction of the cost (a close makes thousands): they share their milliseconds, and
    their randoms (consecutive) mostly share all but the last 8 digits."""
    if count <= 0:
        return []
    millis, first = _stamps(count)
    head = (
        f"{prefix}_{''.join([_PAIRS[(millis >> shift) & 1023] for shift in (40, 30, 20, 10, 0)])}"
    )
    highs: dict[int, str] = {}
    found = []
    for random in range(first, first + count):
        high, low = random >> 40, random & _LOW_40
        if high not in highs:
            highs[high] = "".join([_PAIRS[(high >> shift) & 1023] for shift in (30, 20, 10, 0)])
        found.append(
            head
            + highs[high]
            + _PAIRS[low >> 30]
            + _PAIRS[(low >> 20) & 1023]
            + _PAIRS[(low >> 10) & 1023]
            + _PAIRS[low & 1023]
        )
    return found
