"""Every event-log backend behind one fixture, `store`, for the contract suite."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from metering.catalog.customers.models import Customer
from metering.ledger.eventlog.clickhouse import ClickHouseLog, Transport, create_table_sql
from metering.ledger.eventlog.config import shared_eventlog
from metering.ledger.eventlog.convert import record_of
from metering.ledger.eventlog.protocol import EventLog
from metering.ledger.eventlog.stored import StoredEventLog
from metering.ledger.eventlog.transports import HttpTransport
from metering.ledger.events.parsing import parse_item
from metering.ledger.events.service import ingest
from metering.platform.db.engine import make_engine
from metering.platform.settings import get_settings
from tests.metering.conftest import VendorFixture, create_vendor, migrated_database
from tests.metering.ledger.eventlog.helpers import set_eventlog
from tests.metering.ledger.eventlog.server import Server, run_servers
from tests.metering.ledger.events.helpers import LIMITS

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
STORES = [
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.postgres),
    "chdb",
    "clickhouse-18",
    "clickhouse-18-nullable",
]

# The table as it was made before 2026-12-05, with Nullable columns (two more files each in
# every part): still read and written the same way.
NULLABLE_COLUMNS = {
    "model String": "model Nullable(String)",
    "cost_amount Decimal(38, 18)": "cost_amount Nullable(Decimal(38, 18))",
    "cost_currency String": "cost_currency Nullable(String)",
    "cost String": "cost Nullable(String)",
    "plan_version_id String": "plan_version_id Nullable(String)",
}


def nullable_table_sql(table: str) -> str:
    sql = create_table_sql(table)
    for now, before in NULLABLE_COLUMNS.items():
        assert now in sql, now
        sql = sql.replace(now, before)
    return sql


class Store:
    """A backend under test, written the way its production path writes it."""

    vendor_id = "ven_contract"
    log: EventLog

    def write(self, items: list[dict[str, Any]]) -> None:
        raise NotImplementedError

    def customer(self, external_id: str) -> str:
        return f"cus_{external_id}"


class SqlStore(Store):
    """Stored events, written by ingestion (the adapter itself only reads)."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self.vendor_id = create_vendor(self.engine, "Contract").id
        self.session = Session(self.engine)
        self.log = StoredEventLog(self.session)

    def write(self, items: list[dict[str, Any]]) -> None:
        with Session(self.engine) as session:
            result = ingest(session, self.vendor_id, items, NOW, LIMITS)
            assert not result.rejected, result.rejected
            session.commit()
        self.session.expire_all()

    def customer(self, external_id: str) -> str:
        statement = select(Customer.id).where(
            Customer.vendor_id == self.vendor_id, Customer.external_id == external_id
        )
        found = self.session.exec(statement).first()
        assert found is not None
        return found

    def close(self) -> None:
        self.session.close()
        self.engine.dispose()


class ClickHouseStore(Store):
    def __init__(self, log: ClickHouseLog) -> None:
        self.log = log

    def write(self, items: list[dict[str, Any]]) -> None:
        records = [
            record_of(self.vendor_id, self.customer(parsed.event.customer), parsed)
            for parsed in (parse_item(item, NOW, LIMITS) for item in items)
        ]
        self.log.write(records)


@pytest.fixture(scope="session")
def clickhouse_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Server]]:
    """Two ClickHouse 18.16 servers, shards of one cluster (one alone for most tests)."""
    with run_servers(tmp_path_factory.mktemp("clickhouse"), 2) as servers:
        yield servers


@pytest.fixture(scope="session")
def chdb_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The one chdb folder of the test process (chdb keeps one session per process)."""
    return f"chdb:{tmp_path_factory.mktemp('chdb')}"


@pytest.fixture(scope="session")
def chdb_transport(chdb_url: str) -> Transport:
    return shared_eventlog(chdb_url).transport


def fresh_table() -> str:
    return f"events_{secrets.token_hex(6)}"


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    kind: str = request.param
    if kind in ("sqlite", "postgresql"):
        with migrated_database(kind, tmp_path, "eventlog") as url:
            sql = SqlStore(url)
            yield sql
            sql.close()
        return
    if kind == "chdb":
        transport = request.getfixturevalue("chdb_transport")
        yield ClickHouseStore(ClickHouseLog(transport, table=fresh_table()))
        return
    servers: list[Server] = request.getfixturevalue("clickhouse_servers")
    http = HttpTransport(servers[0].url)
    table = fresh_table()
    if kind == "clickhouse-18-nullable":
        http.execute(nullable_table_sql(table))
    yield ClickHouseStore(ClickHouseLog(http, table=table))
    http.close()


@pytest.fixture(params=["chdb", "clickhouse-18"])
def eventlog_url(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "chdb":
        url: str = request.getfixturevalue("chdb_url")
    else:
        servers: list[Server] = request.getfixturevalue("clickhouse_servers")
        url = f"{servers[0].url}/?table={fresh_table()}"
    monkeypatch.setenv("METERING_EVENTLOG_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


@pytest.fixture
def logged(engine: Engine) -> Iterator[VendorFixture]:
    """A vendor with the event log on (METERING_EVENTLOG_URL is the test's to set)."""
    vendor = create_vendor(engine, "Logged")
    set_eventlog(engine, vendor.id)
    yield vendor
    get_settings.cache_clear()
