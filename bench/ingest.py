"""Ingestion benchmark: HTTP batches against `metering serve --workers 2` on PostgreSQL,
with PostgreSQL COPY of the same rows as the baseline (the rows are built before its clock
starts; the parse-inclusive figure is printed for comparison).

    python bench/ingest.py [--events 200000] [--batch 500] [--clients 8] [--singles 1000]
                           [--rounds 3] [--terminations 5]

The HTTP and COPY runs are repeated `--rounds` times, each on fresh databases, and the rates
given are the medians (on this shared two-core machine one run varies by a tenth); each
round's own ratio is printed too. Single-event latencies and terminations are measured in
the first round.

With `--terminations N`, the same events under new ids are sent a second time while every
connection of the service to PostgreSQL is ended N times (`pg_terminate_backend`), spread
over the run; the clients resend a batch answered 503 (after its Retry-After) or cut off,
as a real client would. It prints the 5xx answers, the events lost and doubled (counted in
the database) and the rate against the run without terminations.

Needs the PostgreSQL server at 127.0.0.1:5432 (METERING_BENCH_POSTGRES_URL to change it).
Makes two fresh databases per round (one served, one for COPY) and drops them afterwards.
A benchmark, not a test: it prints figures and fails only if something breaks.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from common import percentile
from postgres import Seeded, conninfo, fresh_database, seed

from metering.ledger.events.parsing import content_hash
from metering.platform.db import jsontext
from pricing_rules.event_json import event_from_json

RULES = Path(__file__).resolve().parents[1] / "pricing_rules/examples/support-agent.yaml"
CUSTOMERS = 100
COPY_COLUMNS = (
    "vendor_id, event_id, type, customer_id, customer_external_id, occurred_at, received_at, "
    "properties, cost, content_hash, status, plan_version_id"
)


def seed_support(url: str) -> Seeded:
    """A vendor with the support-agent plan and its customers, subscribed from the start of
    the events' month. (Subscribed from years back, every period since would be due, and
    the jobs `serve` runs would close thousands of invoices while the ingestion is timed.)"""
    customers = [f"customer-{number:03}" for number in range(CUSTOMERS)]
    month = events_start().replace(day=1, hour=0, minute=0, second=0)
    return seed(url, RULES.read_text(), RULES.name, customers, month)


def events_start() -> datetime:
    """The time of the first event `make_events` makes."""
    return datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)


def make_events(count: int, prefix: str) -> list[dict[str, Any]]:
    """Resolutions over many conversations, with duplicates and reopens mixed in."""
    base = events_start()
    events = []
    for number in range(count):
        customer = f"customer-{number % CUSTOMERS:03}"
        conversation = f"c-{number // 10 * 9 + number % 9}"  # every tenth one a duplicate
        at = (base + timedelta(milliseconds=number)).isoformat().replace("+00:00", "Z")
        if number % 20 == 19:
            event = {
                "id": f"{prefix}{number}",
                "type": "conversation.reopened",
                "customer": customer,
                "timestamp": at,
                "properties": {"conversation_id": conversation},
            }
        else:
            event = {
                "id": f"{prefix}{number}",
                "type": "conversation.resolved",
                "customer": customer,
                "timestamp": at,
                "properties": {
                    "conversation_id": conversation,
                    "channel": "chat",
                    "handled_by": "ai",
                    "model": "gpt-x",
                    "turns": number % 17,
                },
            }
        events.append(event)
    return events


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_command(port: int, workers: int, *extra: str) -> list[str]:
    metering = shutil.which("metering", path=str(Path(sys.executable).parent))
    if metering:
        probe = subprocess.run([metering, "serve", "--help"], capture_output=True, check=False)
        if probe.returncode == 0:
            return [metering, "serve", "--port", str(port), "--workers", str(workers), *extra]
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "metering.surfaces.app:create_app",
        "--factory",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
    ]


@contextmanager
def server(url: str, workers: int, *extra: str, start_within: float = 180) -> Iterator[str]:
    """`metering serve` on a free port (`extra`: more of its options); its base URL once
    `/healthz` answers, within `start_within` seconds."""
    port = free_port()
    command = server_command(port, workers, *extra)
    print(
        "server:", " ".join(Path(command[0]).name if i == 0 else c for i, c in enumerate(command))
    )
    env = os.environ | {"DATABASE_URL": url}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_within
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the server did not start")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


async def post_batches(
    base: str, key: str, events: list[dict[str, Any]], size: int, clients: int, keep_alive: bool
) -> float:
    """Send `events` in batches of `size` from `clients` concurrent clients; the seconds
    until all were answered.

    The requests are whole HTTP/1.1 messages encoded before the clock starts and written
    on plain asyncio streams: the client shares the machine's cores with the service, and a
    full HTTP client library spends several milliseconds of CPU per request that the
    service's figure would otherwise pay for."""
    url = httpx.URL(base)
    head = (
        f"POST /v1/events HTTP/1.1\r\nHost: {url.host}:{url.port}\r\n"
        f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
        + ("" if keep_alive else "Connection: close\r\n")
    )
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for start in range(0, len(events), size):
        body = jsontext.dumps({"events": events[start : start + size]}).encode()
        queue.put_nowait(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
    accepted = 0

    async def client() -> None:
        # By default a new connection per batch, as webhook senders do. With a few long-lived
        # connections (--keep-alive) uvicorn's workers, which share one accept queue, may
        # get them unevenly: then one worker does most of the work and the figure varies.
        nonlocal accepted
        streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        while not queue.empty():
            request = queue.get_nowait()
            if streams is None:
                assert url.host and url.port
                streams = await asyncio.open_connection(url.host, url.port)
            reader, writer = streams
            writer.write(request)
            status, answer = await read_response(reader)
            if status != 200:
                raise SystemExit(f"answered {status}: {answer[:300]!r}")
            body = json.loads(answer)
            if body["rejected"]:
                raise SystemExit(f"rejected: {body['rejected'][:3]}")
            accepted += body["accepted"]
            if not keep_alive:
                writer.close()
                streams = None
        if streams is not None:
            streams[1].close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    if accepted != len(events):
        raise SystemExit(f"{accepted} of {len(events)} events accepted")
    return elapsed


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """The status and body of one HTTP/1.1 response (the service sends Content-Length)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
    length = next(int(v) for k, v in headers.items() if k.strip().lower() == "content-length")
    return int(lines[0].split()[1]), await reader.readexactly(length)


@dataclass
class FaultRun:
    """What the clients saw while the service's connections were terminated."""

    seconds: float = 0.0
    terminations: int = 0
    backends_ended: int = 0
    answers: Counter[int] = field(default_factory=Counter)
    cut_off: int = 0
    waited: float = 0.0


def terminate_backends(url: str) -> int:
    """End every connection to the served database but this one; how many were ended."""
    with psycopg.connect(conninfo(url), autocommit=True) as connection:
        rows = connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return sum(1 for (ended,) in rows if ended)


async def post_through_terminations(
    base: str,
    key: str,
    url: str,
    events: list[dict[str, Any]],
    size: int,
    clients: int,
    terminations: int,
    expected_seconds: float,
) -> FaultRun:
    """`post_batches` while the service's connections are terminated `terminations` times,
    evenly over the time the run without them took; each batch is sent until answered 200."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for start in range(0, len(events), size):
        queue.put_nowait(jsontext.dumps({"events": events[start : start + size]}).encode())
    run = FaultRun()
    finished = asyncio.Event()

    async def client() -> None:
        headers = {"Authorization": f"Bearer {key}", "connection": "close"}
        async with httpx.AsyncClient(base_url=base, timeout=120, headers=headers) as http:
            while not queue.empty():
                payload = queue.get_nowait()
                while True:
                    try:
                        response = await http.post(
                            "/v1/events",
                            content=payload,
                            headers={"content-type": "application/json"},
                        )
                    except httpx.TransportError:
                        run.cut_off += 1
                        await asyncio.sleep(0.1)
                        continue
                    run.answers[response.status_code] += 1
                    if response.status_code == 200:
                        break
                    if response.status_code < 500:
                        raise SystemExit(f"{response.status_code}: {response.text[:300]}")
                    pause = min(float(response.headers.get("retry-after", "1")), 10.0)
                    run.waited += pause
                    await asyncio.sleep(pause)

    async def terminator() -> None:
        interval = expected_seconds / (terminations + 1)
        for _ in range(terminations):
            try:
                await asyncio.wait_for(finished.wait(), timeout=interval)
                return  # the clients are done: the rest cannot fall inside the run
            except TimeoutError:
                pass
            run.backends_ended += await asyncio.to_thread(terminate_backends, url)
            run.terminations += 1

    started = time.perf_counter()
    ending = asyncio.create_task(terminator())
    await asyncio.gather(*(client() for _ in range(clients)))
    run.seconds = time.perf_counter() - started
    finished.set()
    await ending
    return run


def lost_and_doubled(url: str, events: list[dict[str, Any]]) -> tuple[int, int, int]:
    """Events sent but not stored, events stored more than once, and outcome rows written
    more than once for one event and outcome (all counted in the database)."""
    sent = {event["id"] for event in events}
    with psycopg.connect(conninfo(url)) as connection:
        stored = [row[0] for row in connection.execute("SELECT event_id FROM events")]
        doubled_outcomes = connection.execute(
            "SELECT count(*) FROM (SELECT event_pk, outcome FROM outcomes"
            " GROUP BY event_pk, outcome HAVING count(*) > 1) AS twice"
        ).fetchone()
    kept = [event_id for event_id in stored if event_id in sent]
    lost = len(sent - set(kept))
    doubled = len(kept) - len(set(kept))
    return lost, doubled, int(doubled_outcomes[0]) if doubled_outcomes else 0


def single_latencies(
    base: str, key: str, events: list[dict[str, Any]], keep_alive: bool
) -> list[float]:
    """Post events one by one and time each round trip (a new connection each time unless
    `keep_alive`, then the connection time is included).

    `http.client` sends headers and body in one write, so the client adds no Nagle delay.
    On a kept-alive connection to `uvicorn --workers N` the server does: its shared socket
    leaves TCP_NODELAY off (uvicorn issue #3149), so every request after a connection's
    first waits about 40 ms for a delayed ACK. Both figures are printed.
    """
    url = httpx.URL(base)
    connection = http.client.HTTPConnection(url.host, url.port)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    latencies = []
    try:
        for event in events:
            payload = jsontext.dumps(event).encode()
            started = time.perf_counter()
            if not keep_alive:
                connection.close()
                connection = http.client.HTTPConnection(url.host, url.port)
            connection.request("POST", "/v1/events", body=payload, headers=headers)
            response = connection.getresponse()
            text = response.read()
            latencies.append(time.perf_counter() - started)
            if response.status != 201:
                raise SystemExit(f"single event: {response.status} {text!r}")
    finally:
        connection.close()
    return latencies


def copy_row(
    vendor_id: str, customers: dict[str, str], item: dict[str, Any], now: datetime
) -> tuple[Any, ...]:
    """The events row HTTP ingestion writes for `item` (parsed, hashed, status set)."""
    event = event_from_json(item)
    return (
        vendor_id,
        event.id,
        event.type,
        customers[event.customer],
        event.customer,
        event.timestamp,
        now,
        jsontext.dumps(event.properties),
        None,
        content_hash(event),
        "counted",
        None,
    )


def copy_rows(
    url: str, vendor_id: str, customers: dict[str, str], events: list[dict[str, Any]]
) -> tuple[float, float]:
    """COPY the rows HTTP ingestion writes into the events table (same table, same indexes).

    Returns the seconds of the COPY alone (the rows built before the clock starts: the
    honest baseline) and of building the rows (parsing and hashing every event in Python),
    which the earlier, parse-inclusive baseline counted too.
    """
    started = time.perf_counter()
    now = datetime.now(UTC)
    rows = [copy_row(vendor_id, customers, item, now) for item in events]
    building = time.perf_counter() - started
    with psycopg.connect(conninfo(url)) as connection, connection.cursor() as cursor:
        started = time.perf_counter()
        with cursor.copy(f"COPY events ({COPY_COLUMNS}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        connection.commit()
        copying = time.perf_counter() - started
    return copying, building


def timed_http(
    args: argparse.Namespace,
    events: list[dict[str, Any]],
    then: Callable[[str, str, str, float], None] | None = None,
) -> float:
    """Seconds to send `events` to a fresh service on a fresh database; `then(base, key,
    url, seconds)` runs afterwards while the service still runs."""
    with fresh_database(f"metering_bench_http_{secrets.token_hex(4)}") as url:
        key = seed_support(url).api_key
        with server(url, args.workers) as base:
            seconds = asyncio.run(
                post_batches(base, key, events, args.batch, args.clients, args.keep_alive)
            )
            if then is not None:
                then(base, key, url, seconds)
    return seconds


def timed_copy(events: list[dict[str, Any]]) -> tuple[float, float]:
    """`copy_rows` of `events` into a fresh database: (COPY seconds, build seconds)."""
    with fresh_database(f"metering_bench_copy_{secrets.token_hex(4)}") as url:
        seeded = seed_support(url)
        return copy_rows(url, seeded.vendor_id, seeded.customer_ids, events)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--singles", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep-alive", action="store_true", help="reuse one connection per client")
    parser.add_argument(
        "--terminations",
        type=int,
        default=0,
        help="send the events again while the service's PostgreSQL connections are ended "
        "this many times",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="timed HTTP and COPY runs, each on fresh databases; the figures are their "
        "medians (on a shared two-core machine one run varies by a tenth)",
    )
    args = parser.parse_args()
    faults: FaultRun | None = None
    events = make_events(args.events, "evt_")
    singles = make_events(args.singles, "one_")
    fresh: list[float] = []
    kept: list[float] = []
    lost = doubled = doubled_outcomes = 0

    def first_round(base: str, key: str, url: str, http_seconds: float) -> None:
        nonlocal fresh, kept, faults, lost, doubled, doubled_outcomes
        half = len(singles) // 2
        fresh = single_latencies(base, key, singles[:half], keep_alive=False)
        kept = single_latencies(base, key, singles[half:], keep_alive=True)
        if args.terminations:
            again = make_events(args.events, "flt_")
            faults = asyncio.run(
                post_through_terminations(
                    base,
                    key,
                    url,
                    again,
                    args.batch,
                    args.clients,
                    args.terminations,
                    http_seconds,
                )
            )
            lost, doubled, doubled_outcomes = lost_and_doubled(url, again)

    rounds: list[tuple[float, float, float]] = []
    for number in range(max(args.rounds, 1)):
        http = timed_http(args, events, first_round if number == 0 else None)
        rounds.append((http, *timed_copy(events)))
        print(f"round {number + 1}: HTTP / COPY {rounds[-1][1] / rounds[-1][0]:.1%}", flush=True)
    http_seconds, copy_seconds, build_seconds = (
        statistics.median(r[i] for r in rounds) for i in range(3)
    )
    ratios = ", ".join(f"{copy / http:.1%}" for http, copy, _ in rounds)
    http_rate = args.events / http_seconds
    copy_rate = args.events / copy_seconds
    parsed_copy_rate = args.events / (copy_seconds + build_seconds)
    print(
        f"events:            {args.events} in batches of {args.batch}, {args.clients} clients, "
        f"{args.workers} workers, "
        + ("one kept-alive connection per client" if args.keep_alive else "a connection per batch")
    )
    print(f"HTTP ingestion:    {http_rate:10,.0f} events/s ({http_seconds:.1f} s, median)")
    print(
        f"PostgreSQL COPY:   {copy_rate:10,.0f} events/s ({copy_seconds:.1f} s, rows built "
        "before the clock: the baseline)"
    )
    parsed_seconds = copy_seconds + build_seconds
    print(
        f"COPY with parsing: {parsed_copy_rate:10,.0f} events/s ({parsed_seconds:.1f} s, "
        f"{build_seconds:.1f} s of it parsing and hashing in Python: the old baseline)"
    )
    print(
        f"HTTP / COPY:       {http_rate / copy_rate:10.1%}  (target at least 25%; medians of "
        f"{len(rounds)} rounds, whose own ratios were {ratios})"
    )
    print(f"HTTP / old COPY:   {http_rate / parsed_copy_rate:10.1%}  (parse-inclusive baseline)")
    for label, latencies in (("new connection", fresh), ("kept-alive", kept)):
        if len(latencies) < 2:
            continue  # --singles 0 or 1: no latency figures to give
        print(
            f"single events, {label + ':':16}p50 {percentile(latencies, 50) * 1000:.1f} ms, "
            f"p99 {percentile(latencies, 99) * 1000:.1f} ms over {len(latencies)} requests"
        )
    if faults is not None:
        fault_rate = args.events / faults.seconds
        server_errors = sum(n for status, n in faults.answers.items() if status >= 500)
        print(
            f"terminations:      {faults.terminations} (pg_terminate_backend ended "
            f"{faults.backends_ended} connections of the service)"
        )
        print(
            f"answers:           {dict(sorted(faults.answers.items()))}, "
            f"{faults.cut_off} requests cut off and resent, {faults.waited:.0f} s waited "
            "for Retry-After"
        )
        print(
            f"5xx answers:       {server_errors} ({faults.answers[500]} of them 500; "
            "503 is the retryable answer, target 0 for 500)"
        )
        print(
            f"events lost:       {lost}  doubled: {doubled}  outcomes doubled: {doubled_outcomes}"
        )
        print(
            f"with terminations: {fault_rate:10,.0f} events/s ({faults.seconds:.1f} s), "
            f"{fault_rate / http_rate:.1%} of the rate without"
        )


if __name__ == "__main__":
    main()
