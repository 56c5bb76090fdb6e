"""Posting events for a vendor with the event log: acknowledged only once ClickHouse has
them, cost-only events kept only there, retries and conflicting ids answered as before."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from metering.ledger.eventlog.config import shared_eventlog
from metering.ledger.events import service as ingestion
from metering.platform.settings import get_settings
from metering.surfaces.app import create_app
from tests.metering.conftest import VendorFixture, receiving_settings
from tests.metering.ledger.eventlog.conftest import fresh_table
from tests.metering.ledger.eventlog.server import Server, free_ports
from tests.metering.ledger.events.helpers import auth, table
from tests.metering.surfaces.reports.helpers import at, call, money, resolution, tokens


def _client(database_url: str, url: str, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.setenv("METERING_EVENTLOG_URL", url)
    get_settings.cache_clear()
    return TestClient(create_app(receiving_settings(database_url=database_url)))


@pytest.fixture
def log_url(clickhouse_servers: list[Server]) -> str:
    """A fresh table on the test server, as METERING_EVENTLOG_URL names it."""
    return f"{clickhouse_servers[0].url}/?table={fresh_table()}"


def _stored(engine: Engine) -> list[Any]:
    return [row[0] for row in table(engine, "events", "event_id", order="event_id")]


def test_cost_only_events_are_acknowledged_and_kept_only_in_the_event_log(
    engine: Engine,
    database_url: str,
    logged: VendorFixture,
    log_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    items = [
        call("m-1", "c-1", tokens("gpt-4o", 1200, 300), at(10, 9)),
        call("m-2", "c-1", money("0.0123"), at(10, 10)),
        resolution("r-1", "c-1", at(10, 12)),
    ]
    with _client(database_url, log_url, monkeypatch) as client:
        first = client.post("/v1/events", json={"events": items}, headers=auth(logged.api_key))
        retry = client.post("/v1/events", json={"events": items}, headers=auth(logged.api_key))
        changed = call("m-1", "c-1", money("9.99"), at(10, 9))
        conflict = client.post("/v1/events", json=changed, headers=auth(logged.api_key))

    assert first.status_code == 200, first.text
    assert (first.json()["accepted"], first.json()["duplicates"]) == (3, 0)
    assert [e["id"] for e in first.json()["events"]] == ["m-1", "m-2", "r-1"]
    assert (retry.json()["accepted"], retry.json()["duplicates"]) == (0, 3)
    assert conflict.status_code == 409
    assert "'m-1' was already stored with different content" in conflict.json()["detail"]
    assert _stored(engine) == ["r-1"]
    log = shared_eventlog(log_url)
    (month,) = log.monthly(logged.id)
    assert month.events == 3
    assert month.tokens == {"gpt-4o": (1200, 300)}
    assert str(month.money["usd"].normalize()) == "0.0123"


def test_an_id_the_log_holds_for_a_cost_only_event_is_not_new_to_the_sql_store(
    engine: Engine,
    database_url: str,
    logged: VendorFixture,
    log_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cost = call("x-1", "c-1", tokens("gpt-4o", 1200, 300), at(10, 9))
    with _client(database_url, log_url, monkeypatch) as client:
        first = client.post("/v1/events", json=cost, headers=auth(logged.api_key))
        reused = [resolution("x-1", "c-1", at(10, 12)), resolution("r-2", "c-1", at(10, 13))]
        second = client.post("/v1/events", json={"events": reused}, headers=auth(logged.api_key))

    assert first.status_code == 201, first.text
    assert second.status_code == 200, second.text
    answer = second.json()
    assert (answer["accepted"], answer["duplicates"]) == (1, 0)
    assert [e["id"] for e in answer["events"]] == ["r-2"]
    (rejected,) = answer["rejected"]
    assert (rejected["index"], rejected["id"], rejected["status"]) == (0, "x-1", 409)
    assert "'x-1' was already stored with different content" in rejected["detail"]
    assert _stored(engine) == ["r-2"]
    (month,) = shared_eventlog(log_url).monthly(logged.id)
    assert (month.events, month.tokens) == (2, {"gpt-4o": (1200, 300)})


def test_nothing_is_stored_when_the_event_log_does_not_answer(
    engine: Engine, database_url: str, logged: VendorFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    (closed,) = free_ports(1)
    url = f"http://127.0.0.1:{closed}/?table={fresh_table()}"
    with _client(database_url, url, monkeypatch) as client:
        response = client.post(
            "/v1/events", json=resolution("r-1", "c-1", at(10)), headers=auth(logged.api_key)
        )
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert response.json()["type"].endswith("/eventlog-unavailable")
    assert "ClickHouse did not answer" in response.json()["detail"]
    assert _stored(engine) == []


@pytest.mark.parametrize("transient", [False, True], ids=["error", "lost-connection"])
def test_a_batch_the_log_took_but_the_database_did_not_commit_is_stored_once(
    engine: Engine,
    database_url: str,
    logged: VendorFixture,
    log_url: str,
    monkeypatch: pytest.MonkeyPatch,
    transient: bool,
) -> None:
    """The database fails after ClickHouse answered (its rows are in), in a transaction
    that also made the batch's customer. An error: nothing is acknowledged, and the
    client's retry stores the resolution in SQL once and answers the cost-only events,
    which the log holds, as duplicates. A lost connection: the request runs the batch
    once more itself, and answers every event as accepted. Either way each event is once
    in each store, under the one customer."""
    items = [
        call("m-1", "c-1", tokens("gpt-4o", 1200, 300), at(10, 9)),
        call("m-2", "c-1", tokens("small", 800, 80), at(10, 10)),
        resolution("r-1", "c-1", at(10, 12)),
    ]
    failing = {"left": 1}
    original = ingestion.write_outcomes

    def write_outcomes(*args: Any, **kwargs: Any) -> Any:
        if failing["left"]:
            failing["left"] -= 1
            lost = Exception("server closed the connection unexpectedly")
            raise OperationalError("INSERT", {}, lost, connection_invalidated=transient)
        return original(*args, **kwargs)

    monkeypatch.setattr(ingestion, "write_outcomes", write_outcomes)
    monkeypatch.setenv("METERING_EVENTLOG_URL", log_url)
    get_settings.cache_clear()
    app = create_app(receiving_settings(database_url=database_url))
    headers = auth(logged.api_key)
    with TestClient(app, raise_server_exceptions=False) as client:
        first = client.post("/v1/events", json={"events": items}, headers=headers)
        stored_meanwhile = _stored(engine)
        retry = client.post("/v1/events", json={"events": items}, headers=headers)

    if transient:
        assert first.status_code == 200, first.text
        assert (first.json()["accepted"], first.json()["duplicates"]) == (3, 0)
        assert {e["id"]: e["status"] for e in first.json()["events"]} == {
            "m-1": "unmatched",
            "m-2": "unmatched",
            "r-1": "unmatched",
        }
        assert stored_meanwhile == ["r-1"]
        assert (retry.json()["accepted"], retry.json()["duplicates"]) == (0, 3)
    else:
        assert first.status_code == 500
        assert stored_meanwhile == []
        assert retry.status_code == 200, retry.text
        assert (retry.json()["accepted"], retry.json()["duplicates"]) == (1, 2)
        assert [e["id"] for e in retry.json()["events"]] == ["r-1"]
    assert _stored(engine) == ["r-1"]
    (month,) = shared_eventlog(log_url).monthly(logged.id)
    assert month.events == 3
    assert month.tokens == {"gpt-4o": (1200, 300), "small": (800, 80)}
