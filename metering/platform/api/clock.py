"""The moment a request is answered as of (FastAPI dependency)."""

from __future__ import annotations

from datetime import datetime

from metering.platform.db.types import utcnow


async def request_now() -> datetime:
    """Now, read once per request (async: reading the clock takes no worker thread). Tests
    answer as of a fixed time by replacing it (`app.dependency_overrides[request_now]`)."""
    return utcnow()
