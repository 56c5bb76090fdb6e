"""Opening the event log named by `METERING_EVENTLOG_URL`.

* `chdb:var/eventlog` - ClickHouse's engine in this process, data in that folder;
* `http://host:8123/?database=db` - a ClickHouse server (a `Distributed` table on a
  cluster: see README).
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from metering.ledger.eventlog.clickhouse import ClickHouseLog
from metering.ledger.eventlog.transports import ChdbTransport, HttpTransport

_OPEN: dict[str, ClickHouseLog] = {}


def open_eventlog(url: str) -> ClickHouseLog:
    """A new connection to the event log at `url` (the table is created if missing)."""
    if url.startswith("chdb:"):
        return ClickHouseLog(ChdbTransport(url.removeprefix("chdb:") or "var/eventlog"))
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(
            f"METERING_EVENTLOG_URL: expected chdb:<folder> or http(s)://, got {url!r}"
        )
    database = parse_qs(parts.query).get("database", [None])[0]
    table = parse_qs(parts.query).get("table", ["metering_events"])[0]
    base = f"{parts.scheme}://{parts.netloc}"
    return ClickHouseLog(HttpTransport(base, database), table=table)


def shared_eventlog(url: str) -> ClickHouseLog:
    """One event log per URL for this process (chdb allows one session per folder)."""
    found = _OPEN.get(url)
    if found is None:
        found = _OPEN[url] = open_eventlog(url)
    return found
