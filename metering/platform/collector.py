"""Python's cyclic garbage collector, set for the processes that serve requests or run jobs.

Reference counting frees almost everything this service makes; the cyclic collector only
finds cycles, and each full pass walks every tracked object, a few hundred thousand of them
once the app is built. A pass landing inside a request stalls it for 0.1 to 0.5 s (measured
on a busy 2-core host), so a served process keeps its work out of the way; so does a worker,
whose close of a thousand invoices (with their prepaid credits) set off full passes worth a
tenth of the close.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG_OBJECTS = 20_000
"""The collector's first threshold in a served process (Python's default is 700): handling
a batch of 500 events makes and drops tens of thousands of objects, and at the default the
collections they set off were about 5% of the batch."""


def settle_for_serving() -> None:
    """Take what exists by now (modules, routes, schemas) out of the collector's walks
    (`gc.freeze`) and raise the young generation's threshold; only cycles wait longer."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_OBJECTS, *gc.get_threshold()[1:])


class _Pauses:
    """How many `paused` blocks are running, and whether the collector ran before the first."""

    lock = threading.Lock()
    running = 0
    was_enabled = False


@contextmanager
def paused() -> Iterator[None]:
    """No collection while the block runs: for work that builds what lives until it ends (a
    close batch: thousands of invoices, lines and credits, freed by reference counting when
    it ends), where each young pass walks and keeps all of it. Pauses in several threads
    are counted: the collector resumes when the last ends, if it was running before."""
    with _Pauses.lock:
        if _Pauses.running == 0:
            _Pauses.was_enabled = gc.isenabled()
            gc.disable()
        _Pauses.running += 1
    try:
        yield
    finally:
        with _Pauses.lock:
            _Pauses.running -= 1
            if _Pauses.running == 0 and _Pauses.was_enabled:
                gc.enable()
