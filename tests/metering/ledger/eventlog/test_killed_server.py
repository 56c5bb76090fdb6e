"""ClickHouse killed (SIGKILL) while batches are being posted, then started again on its
data: clients that send each batch again until it is acknowledged end with every event
stored exactly once in each store, and every cost summed once."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from metering.ledger.eventlog.config import shared_eventlog
from metering.platform.settings import get_settings
from metering.surfaces.app import create_app
from tests.metering.conftest import VendorFixture, receiving_settings
from tests.metering.ledger.eventlog.conftest import fresh_table
from tests.metering.ledger.eventlog.server import Server, ServerProcess, free_ports
from tests.metering.ledger.events.helpers import auth, table
from tests.metering.surfaces.reports.helpers import at, call, resolution, tokens

BATCHES = 24
CALLS = 9  # model calls per conversation, each batch two conversations


def _batch(number: int) -> list[dict[str, Any]]:
    items = []
    for conversation in (2 * number, 2 * number + 1):
        key = f"c{conversation}"
        when = at(1 + conversation % 28, conversation % 24)
        model = "gpt-4o" if conversation % 3 else "small"
        items += [
            call(f"m{conversation}-{n}", key, tokens(model, 1000 + n, 10 * n), when)
            for n in range(CALLS)
        ]
        items.append(resolution(f"r{conversation}", key, when))
    return items


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    http, tcp = free_ports(2)
    with ServerProcess(tmp_path / "clickhouse", Server(http, tcp)) as process:
        process.wait_ready()
        yield process


def test_batches_sent_again_after_clickhouse_was_killed_are_stored_once(
    engine: Engine,
    database_url: str,
    logged: VendorFixture,
    server: ServerProcess,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = f"{server.server.url}/?table={fresh_table()}"
    monkeypatch.setenv("METERING_EVENTLOG_URL", url)
    get_settings.cache_clear()
    batches = [_batch(number) for number in range(BATCHES)]
    answers: Counter[str] = Counter()
    refused: list[str] = []
    acknowledged = threading.Semaphore(0)

    def send(client: TestClient, numbers: range) -> None:
        for number in numbers:
            for _ in range(200):  # a client's retries, until the batch is acknowledged
                response = client.post(
                    "/v1/events", json={"events": batches[number]}, headers=auth(logged.api_key)
                )
                if response.status_code == 200:
                    body = response.json()
                    answers["accepted"] += body["accepted"]
                    answers["duplicates"] += body["duplicates"]
                    assert body["rejected"] == [], body["rejected"]
                    acknowledged.release()
                    break
                assert response.status_code == 503, response.text
                refused.append(response.json()["type"])
                time.sleep(0.05)
            else:
                pytest.fail(f"batch {number} was never acknowledged")

    with TestClient(create_app(receiving_settings(database_url=database_url))) as client:
        half = BATCHES // 2
        senders = [
            threading.Thread(target=send, args=(client, range(0, half))),
            threading.Thread(target=send, args=(client, range(half, BATCHES))),
        ]
        for sender in senders:
            sender.start()
        for _ in range(4):  # killed while the senders are busy, after some batches are in
            assert acknowledged.acquire(timeout=60)
        server.kill()
        time.sleep(1.0)  # batches sent meanwhile are refused, not kept
        server.start()
        for sender in senders:
            sender.join(timeout=120)
            assert not sender.is_alive()
        # Every batch once more, as a client unsure of its answers would: all duplicates.
        again = [
            client.post("/v1/events", json={"events": b}, headers=auth(logged.api_key)).json()
            for b in batches
        ]

    total = BATCHES * 2 * (CALLS + 1)
    assert refused, "ClickHouse was killed while no batch was sent"
    assert all(kind.endswith("/eventlog-unavailable") for kind in refused), set(refused)
    # A batch ClickHouse took just before it died, unanswered, comes back as duplicates.
    assert answers["accepted"] + answers["duplicates"] == total
    assert [(a["accepted"], a["duplicates"]) for a in again] == [(0, 2 * (CALLS + 1))] * BATCHES
    resolutions = [row[0] for row in table(engine, "events", "event_id", order="event_id")]
    assert resolutions == sorted(f"r{c}" for c in range(2 * BATCHES))
    log = shared_eventlog(url)
    months = log.monthly(logged.id)
    assert sum(month.events for month in months) == total
    expected: Counter[str] = Counter()
    for item in (item for batch in batches for item in batch if "cost" in item):
        cost = item["cost"]
        expected[f"{cost['model']} in"] += cost["input_tokens"]
        expected[f"{cost['model']} out"] += cost["output_tokens"]
    summed: Counter[str] = Counter()
    for month in months:
        for model, (used, made) in month.tokens.items():
            summed[f"{model} in"] += used
            summed[f"{model} out"] += made
    assert summed == expected
