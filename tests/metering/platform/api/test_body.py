"""Bodies over the limit are refused from Content-Length or while streaming."""

from __future__ import annotations

import asyncio

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from metering.platform.api.body import read_body
from metering.platform.api.problem_handlers import install_problem_handlers
from metering.platform.api.problems import ProblemError

LIMIT = 100


def _app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"bytes": len(await read_body(request, LIMIT))}

    return app


client = TestClient(_app())


def test_body_within_the_limit_is_read_whole() -> None:
    assert client.post("/echo", content=b"x" * LIMIT).json() == {"bytes": LIMIT}


def test_declared_length_over_the_limit_is_a_413() -> None:
    response = client.post("/echo", content=b"x" * (LIMIT + 1))
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "The body exceeds the limit of 100 bytes."


def test_streamed_body_is_cut_off_once_past_the_limit() -> None:
    """Without Content-Length, reading stops at the first chunk past the limit."""
    received: list[int] = []

    async def receive() -> dict[str, object]:
        received.append(1)
        return {"type": "http.request", "body": b"x" * 40, "more_body": len(received) < 50}

    request = Request({"type": "http", "method": "POST", "headers": []}, receive)
    with pytest.raises(ProblemError) as refused:
        asyncio.run(read_body(request, LIMIT))
    assert refused.value.status == 413
    assert len(received) == 3  # 120 bytes read of the 2,000 offered


def test_non_numeric_content_length_is_a_400() -> None:
    response = client.post("/echo", content=b"abc", headers={"content-length": "three"})
    assert response.status_code == 400
