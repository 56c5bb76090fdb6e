"""Bounded request bodies: a body over the limit is refused before it is read whole."""

from __future__ import annotations

from fastapi import Request

from metering.platform.api import problems
from metering.platform.api.problems import ProblemError

MIB = 1024 * 1024


def _too_large(limit: int) -> ProblemError:
    mib, rest = divmod(limit, MIB)
    size = f"{limit} bytes ({mib} MiB)" if mib and not rest else f"{limit} bytes"
    return problems.BODY_TOO_LARGE.error(f"The body exceeds the limit of {size}.")


def _declared_length(request: Request) -> int | None:
    header = request.headers.get("content-length")
    if header is None:
        return None
    try:
        return int(header)
    except ValueError:
        raise problems.HTTP_BAD_REQUEST.error(
            f"Content-Length '{header}' is not a number of bytes."
        ) from None


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, or a 413 problem as soon as Content-Length or the stream passes `limit`."""
    declared = _declared_length(request)
    if declared is not None and declared > limit:
        raise _too_large(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _too_large(limit)
    return bytes(body)
