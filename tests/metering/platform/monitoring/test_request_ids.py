"""Every request has an id: the client's when it is safe, else a new one; it comes back in
`X-Request-Id` and is on every log line written while the request is handled, in sync
endpoints and `run_in_threadpool` too, crashes included."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.concurrency import run_in_threadpool

from metering.platform.monitoring.logs import configured
from metering.platform.settings import Settings
from metering.surfaces.app import create_app
from tests.metering.ledger.events.helpers import auth

logger = logging.getLogger("tests.request_ids")
GENERATED = re.compile(r"[0-9a-f]{32}")


@pytest.fixture(scope="module")
def backend() -> str:
    """Request ids never reach the database: SQLite is enough."""
    return "sqlite"


def log_here(where: str) -> None:
    logger.warning("handling %s", where, extra={"where": where})


@pytest.fixture
def client(database_url: str, engine: Any) -> Iterator[TestClient]:
    """The app, with three routes that log: sync, async through the threadpool, and one
    that crashes after logging."""
    app = create_app(Settings(database_url=database_url))

    @app.get("/test/sync")
    def sync_route() -> dict[str, str]:
        log_here("sync")
        return {}

    @app.get("/test/threadpool")
    async def threadpool_route() -> dict[str, str]:
        log_here("async")
        await run_in_threadpool(log_here, "threadpool")
        return {}

    @app.get("/test/crash")
    def crash_route() -> None:
        log_here("crash")
        raise RuntimeError("boom")

    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def json_lines(text: str) -> list[dict[str, Any]]:
    """Each line parsed: a line that is not one JSON object fails here."""
    return [json.loads(line) for line in text.splitlines() if line]


def test_a_safe_client_id_comes_back_and_is_on_every_line_of_its_request(
    client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    with configured("json"):
        first = client.get("/test/threadpool", headers={"X-Request-Id": "req-1.a:B_2"})
        second = client.get("/test/sync", headers={"X-Request-Id": "other-request"})
        logger.warning("between requests")

    assert first.headers["X-Request-Id"] == "req-1.a:B_2"
    assert second.headers["X-Request-Id"] == "other-request"
    lines = [line for line in json_lines(capsys.readouterr().err) if line["logger"] == logger.name]
    assert [(line["where"], line["request_id"]) for line in lines if "where" in line] == [
        ("async", "req-1.a:B_2"),
        ("threadpool", "req-1.a:B_2"),
        ("sync", "other-request"),
    ]
    assert lines[-1]["message"] == "between requests" and lines[-1]["request_id"] is None
    assert {"time", "level", "logger", "message", "request_id"} <= set(lines[0])
    assert lines[0]["level"] == "WARNING" and lines[0]["message"] == "handling async"


def test_without_an_id_the_request_gets_a_new_one(client: TestClient) -> None:
    first = client.get("/healthz")
    second = client.get("/healthz")

    assert GENERATED.fullmatch(first.headers["X-Request-Id"])
    assert GENERATED.fullmatch(second.headers["X-Request-Id"])
    assert first.headers["X-Request-Id"] != second.headers["X-Request-Id"]


@pytest.mark.parametrize(
    "unsafe",
    [
        "x" * 129,  # too long
        "",
        "two words",
        'quote"d',
        "<script>alert(1)</script>",
        "new\\nline",
        "caf\u00e9".encode(),  # not ASCII
    ],
)
def test_an_unsafe_id_is_replaced_in_the_answer_and_in_the_logs(
    client: TestClient, capsys: pytest.CaptureFixture[str], unsafe: str | bytes
) -> None:
    with configured("json"):
        response = client.get("/test/sync", headers={"X-Request-Id": unsafe})

    answered = response.headers["X-Request-Id"]
    assert GENERATED.fullmatch(answered)
    lines = [line for line in json_lines(capsys.readouterr().err) if line.get("where")]
    assert [line["request_id"] for line in lines] == [answered]


def test_a_crash_is_logged_and_answered_with_the_request_id(
    client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    with configured("json"):
        response = client.get("/test/crash", headers={"X-Request-Id": "crash-1"})

    assert response.status_code == 500
    assert response.headers["X-Request-Id"] == "crash-1"
    lines = json_lines(capsys.readouterr().err)
    crash = [line for line in lines if line["logger"] == "metering.platform.api.problem_handlers"]
    assert [line["request_id"] for line in crash] == ["crash-1"]
    assert "RuntimeError: boom" in crash[0]["exception"]
    assert [line["request_id"] for line in lines if line.get("where") == "crash"] == ["crash-1"]


def test_ingestion_answers_carry_the_id(client: TestClient) -> None:
    response = client.post(
        "/v1/events", json={"events": []}, headers={**auth("mk_nope"), "X-Request-Id": "ing-1"}
    )

    assert response.status_code == 401
    assert response.headers["X-Request-Id"] == "ing-1"


def test_text_lines_name_the_request_too(
    client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    with configured("text"):
        client.get("/test/sync", headers={"X-Request-Id": "text-1"})
        logger.warning("outside")

    err = capsys.readouterr().err
    assert re.search(r" WARNING tests\.request_ids \[text-1\]: handling sync$", err, re.M)
    assert re.search(r" WARNING tests\.request_ids \[-\]: outside$", err, re.M)
