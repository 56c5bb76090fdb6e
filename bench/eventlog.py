"""Event log benchmark: the same events through the API into a vendor without the event log
(PostgreSQL only) and one with it (cost-only events in ClickHouse), in one run.

    python bench/eventlog.py [--events 1000000] [--customers 1000] [--batch 500]
                             [--clients 8] [--workers 2] [--random-ids] [--zstd]
                             [--rounds 1]

Each vendor has its own fresh PostgreSQL database (so each events table holds one vendor's
events) and is served by `metering serve --workers 2`. The events: per conversation ten model
calls with a token cost and one resolution, spread over the current month up to now, for
`--customers` customers; ids such as "m17-3" (conversation 17, call 3), or 128 random bits in
hex with `--random-ids` (as UUIDs would be: they do not compress, and a pass's ids fall in
as many granules of the id rows as there are ids). ClickHouse is Debian's clickhouse-server
(18.16) started as a child process like the tests start it (`make clickhouse` unpacks it),
its parts compressed with LZ4 (its default; `--zstd` for ZSTD), its data in a temporary
folder (`TMPDIR` chooses where: ClickHouse belongs on a journaled filesystem, see the event
log's README); without it, chdb in process with one worker for both vendors (said in the
output).

Prints, per vendor: the ingestion rate, the time of the month's margin report (in this
process, after a warm-up run), and the storage of its events: `pg_total_relation_size` of
the events table, and for the event-log vendor also the `bytes_on_disk` of the ClickHouse
table (active parts of the events table, id rows included). Targets: report at least 5x
faster and storage at least 5x smaller with the event log, ingestion no slower.
Both reports must give the same figures to the cent. With `--rounds N`, N rounds on fresh
databases and servers, the vendor that goes first alternating, and the medians of the
rounds' ratios (runs on a shared two-core VM vary by a tenth or more).
Needs the PostgreSQL server at 127.0.0.1:5432 (METERING_BENCH_POSTGRES_URL).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from common import COST_RULES
from ingest import post_batches, server
from postgres import conninfo, fresh_database, seed
from sqlmodel import Session

from metering.ledger.eventlog.config import shared_eventlog
from metering.platform.db.engine import make_engine
from metering.platform.settings import get_settings
from metering.surfaces.reports.margin import MarginReport
from metering.surfaces.reports.service import margin_report

ROOT = Path(__file__).resolve().parents[1]
CALLS = 10


def make_events(
    count: int, customers: int, start: datetime, end: datetime, random_ids: bool = False
) -> list[dict[str, Any]]:
    """Conversations of `CALLS` model calls and a resolution each, customers in turn; a
    conversation's events a second apart, conversations spread over [start, end)."""
    rng = random.Random(18)
    ids = random.Random(7)  # its own: the same events but for their ids either way

    def event_id(readable: str) -> str:
        return f"{ids.getrandbits(128):032x}" if random_ids else readable

    conversations = max(count // (CALLS + 1), 1)
    step = (end - start - timedelta(minutes=1)) / conversations
    events: list[dict[str, Any]] = []
    for number in range(conversations):
        customer = f"customer-{number % customers:04d}"
        properties = {"conversation_id": f"c{number}"}
        base = start + step * number
        for call in range(CALLS):
            model = "gpt-4o" if rng.random() < 0.3 else "small"
            events.append(
                {
                    "id": event_id(f"m{number}-{call}"),
                    "type": "model.call",
                    "customer": customer,
                    "timestamp": _at(base + timedelta(seconds=call)),
                    "properties": properties,
                    "cost": {
                        "model": model,
                        "input_tokens": rng.randrange(20_000),
                        "output_tokens": rng.randrange(2_000),
                    },
                }
            )
        events.append(
            {
                "id": event_id(f"r{number}"),
                "type": "conversation.resolved",
                "customer": customer,
                "timestamp": _at(base + timedelta(seconds=CALLS)),
                "properties": properties,
            }
        )
    return events[:count]


def _at(when: datetime) -> str:
    return when.isoformat(timespec="microseconds").replace("+00:00", "Z")


@contextmanager
def clickhouse(folder: Path, compression: str | None = None) -> Iterator[tuple[str, str]]:
    """The event log's URL and what it is: a server like the tests', or chdb."""
    sys.path.insert(0, str(ROOT))
    from tests.metering.ledger.eventlog.server import BINARY, run_servers

    if BINARY.exists():
        with run_servers(folder, 1, compression) as (one,):
            kind = f"clickhouse-server 18.16 (child process), {compression or 'lz4'} parts"
            yield f"{one.url}/?table=metering_events", kind
        return
    yield f"chdb:{folder / 'chdb'}", "chdb in process (no clickhouse-server: make clickhouse)"


def set_eventlog(url: str, vendor_id: str) -> None:
    with psycopg.connect(conninfo(url)) as connection:
        connection.execute("UPDATE vendors SET eventlog = true WHERE id = %s", (vendor_id,))


def events_size(url: str) -> int:
    with psycopg.connect(conninfo(url)) as connection:
        row = connection.execute("SELECT pg_total_relation_size('events')").fetchone()
    return int(row[0]) if row else 0


def clickhouse_size(eventlog_url: str) -> int:
    log = shared_eventlog(eventlog_url)
    text = log.transport.execute(
        "SELECT sum(bytes_on_disk) FROM system.parts WHERE active AND table = "
        f"'{log.table}' FORMAT TabSeparated"
    )
    return int(text.strip() or 0)


def timed_report(url: str, vendor_id: str, month: str, as_of: datetime) -> tuple[float, Any]:
    engine = make_engine(url)
    with Session(engine) as session:
        margin_report(session, vendor_id, month, as_of)  # warm-up: plans, caches, connections
    with Session(engine) as session:
        began = time.perf_counter()
        report = margin_report(session, vendor_id, month, as_of)
        elapsed = time.perf_counter() - began
    engine.dispose()
    return elapsed, _figures(report)


def _figures(report: MarginReport) -> list[Any]:
    totals = [
        (t.currency, t.revenue, t.attributed_cost, t.unbilled_cost, t.margin) for t in report.totals
    ]
    return [totals, len(report.customers)]


def run_vendor(
    label: str,
    url: str,
    events: list[dict[str, Any]],
    args: Any,
    eventlog_url: str | None,
    now: datetime,
) -> dict[str, Any]:
    month = now.strftime("%Y-%m")
    customers = [f"customer-{n:04d}" for n in range(args.customers)]
    month_start = now.replace(day=1, hour=0, minute=0, second=0)
    seeded = seed(url, COST_RULES, "bench.yaml", customers, month_start)
    if eventlog_url is not None:
        set_eventlog(url, seeded.vendor_id)
    with server(url, args.workers, "--no-jobs", start_within=600) as base:
        seconds = asyncio.run(
            post_batches(base, seeded.api_key, events, args.batch, args.clients, False)
        )
    with psycopg.connect(conninfo(url), autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")
    report_seconds, figures = timed_report(url, seeded.vendor_id, month, now)
    found = {
        "rate": len(events) / seconds,
        "seconds": seconds,
        "report": report_seconds,
        "figures": figures,
        "pg": events_size(url),
        "clickhouse": clickhouse_size(eventlog_url) if eventlog_url else 0,
    }
    print(
        f"{label:9} ingestion {found['rate']:9,.0f} events/s ({seconds:.1f} s), "
        f"margin report {report_seconds:.2f} s, PostgreSQL events {found['pg'] / 2**20:.1f} MiB"
        + (f", ClickHouse {found['clickhouse'] / 2**20:.1f} MiB" if eventlog_url else ""),
        flush=True,
    )
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--random-ids", action="store_true", help="128 random bits per id")
    parser.add_argument("--zstd", action="store_true", help="the server compresses with ZSTD")
    parser.add_argument("--rounds", type=int, default=1, help="medians of this many rounds")
    args = parser.parse_args()
    now = datetime.now(UTC).replace(microsecond=0)
    start = now.replace(day=1, hour=0, minute=0, second=0)
    if now - start < timedelta(hours=6):
        raise SystemExit("run it later than 06:00 on the 1st: the events need some of the month")
    end = now - timedelta(minutes=5)
    events = make_events(args.events, args.customers, start, end, args.random_ids)
    print(
        f"events: {len(events):,} ({CALLS} model calls per resolution), {args.customers} "
        f"customers, {'random' if args.random_ids else 'readable'} ids"
    )
    with ExitStack() as stack:
        rounds = [run_round(number, events, args, now, stack) for number in range(args.rounds)]
    for plain, logged in rounds:
        same = plain["figures"] == logged["figures"]
        print(f"same margin figures to the cent: {same} {logged['figures'][0]}")
        if not same:
            raise SystemExit(f"the reports differ: {plain['figures']} != {logged['figures']}")
    ratios = [logged["rate"] / plain["rate"] for plain, logged in rounds]
    print(
        f"ingestion: {statistics.median(ratios):.2f}x the rate without the event log (target "
        "at least 1x)" + (f"; median of the rounds' {_listed(ratios)}" if len(rounds) > 1 else "")
    )
    faster = [plain["report"] / logged["report"] for plain, logged in rounds]
    print(
        f"margin report: {statistics.median(faster):.1f}x faster (target 5x)"
        + (f"; median of {_listed(faster, 1)}" if len(rounds) > 1 else "")
    )
    plain, logged = rounds[-1]
    stored = logged["clickhouse"] + logged["pg"]
    print(
        f"storage: {plain['pg'] / logged['clickhouse']:.1f}x smaller in ClickHouse "
        f"(target 5x); {plain['pg'] / stored:.1f}x counting the event-log vendor's "
        "PostgreSQL events (its resolutions) too"
    )


def _listed(values: list[float], places: int = 2) -> str:
    return ", ".join(f"{value:.{places}f}x" for value in values)


def run_round(
    number: int, events: list[dict[str, Any]], args: Any, now: datetime, stack: ExitStack
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Both vendors on fresh databases and a fresh ClickHouse server; which goes first
    alternates between rounds (the second runs on a machine the first left busier: a
    database to vacuum, ClickHouse's last merges)."""
    # Databases and folders are dropped only at the end (`stack`): dropping one removes
    # hundreds of files, and on ext4 without a journal (this machine's) inodes freed in the
    # last minutes are skipped one by one when ClickHouse makes the files of a part.
    plain_url, logged_url = (
        stack.enter_context(fresh_database(f"metering_bench_{label}_{secrets.token_hex(4)}"))
        for label in ("postgres", "eventlog")
    )
    folder = stack.enter_context(tempfile.TemporaryDirectory())
    with clickhouse(Path(folder), "zstd" if args.zstd else None) as (log_url, kind):
        if log_url.startswith("chdb:"):
            if number:
                raise SystemExit(
                    "--rounds needs clickhouse-server (make clickhouse): chdb "
                    "allows one session per process"
                )
            args.workers = 1  # chdb allows one process per folder
        print(f"round {number + 1}; event log: {kind}; serve --workers {args.workers}", flush=True)
        os.environ["METERING_EVENTLOG_URL"] = log_url  # used by the event-log vendor only
        get_settings.cache_clear()
        found: dict[str, dict[str, Any]] = {}
        order = ["postgres", "eventlog"] if number % 2 == 0 else ["eventlog", "postgres"]
        for label in order:
            if label == "postgres":
                found[label] = run_vendor(label, plain_url, events, args, None, now)
            else:
                found[label] = run_vendor(label, logged_url, events, args, log_url, now)
        plain, logged = found["postgres"], found["eventlog"]
        print(f"round {number + 1}: ingestion {logged['rate'] / plain['rate']:.2f}x", flush=True)
        return plain, logged


if __name__ == "__main__":
    main()
