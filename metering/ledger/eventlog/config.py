"""Opening the event log named by `METERING_EVENTLOG_URL`.

* `chdb:var/eventlog` - ClickHouse's engine in this process, data in that folder;
* `http://host:8123/?database=db&table=t` - a ClickHouse server; other query parameters
  are ClickHouse settings sent with every query (`insert_distributed_sync=1` for a
  `Distributed` table on a cluster: see README).
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from sqlmodel import Session

from metering.catalog.vendors.models import Vendor
from metering.ledger.eventlog.clickhouse import TABLE, ClickHouseLog
from metering.ledger.eventlog.transports import ChdbTransport, EventLogUnavailable, HttpTransport
from metering.platform.settings import get_settings

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
    settings = {name: values[-1] for name, values in parse_qs(parts.query).items()}
    table = settings.pop("table", TABLE)
    base = f"{parts.scheme}://{parts.netloc}"
    return ClickHouseLog(HttpTransport(base, settings), table=table)


def shared_eventlog(url: str) -> ClickHouseLog:
    """One event log per URL for this process (chdb allows one session per folder)."""
    found = _OPEN.get(url)
    if found is None:
        found = _OPEN[url] = open_eventlog(url)
    return found


def eventlog_of(session: Session, vendor_id: str) -> ClickHouseLog | None:
    """The event log of a vendor that enabled it; None for the others (the default)."""
    vendor = session.get(Vendor, vendor_id)
    if vendor is None or not vendor.eventlog:
        return None
    url = get_settings().eventlog_url
    if url is None:
        raise EventLogUnavailable(
            f"vendor {vendor_id} writes to the event log, but METERING_EVENTLOG_URL is not set"
        )
    return shared_eventlog(url)
