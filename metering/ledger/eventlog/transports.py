"""How SQL text reaches ClickHouse: chdb's engine in this process, or a server over HTTP."""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx


class EventLogUnavailable(RuntimeError):
    """ClickHouse did not take a statement; the batch must not be acknowledged."""


@dataclass(frozen=True, slots=True)
class External:
    """A table sent with one query (ClickHouse's external data): `name`, its columns
    (`structure`, e.g. "a String, b UInt8") and its rows as TabSeparated text."""

    name: str
    structure: str
    rows: str


INSERT_SETTINGS = {"max_compress_block_size": "65536"}
"""Sent with every INSERT (a URL's settings override them). An INSERT writes a new part,
and the server allocates a compression buffer of `max_compress_block_size` (1 MiB by
default) for each column file: for a part of a few hundred rows, touching those pages is
most of the INSERT's CPU (kernel time; 4x less with 64 KiB, measured on 18.16). Merges
use the server's own setting, so merged parts are compressed as before."""


class HttpTransport:
    """A ClickHouse server's HTTP interface (port 8123 by default)."""

    def __init__(
        self, url: str, settings: dict[str, str] | None = None, timeout: float = 30.0
    ) -> None:
        """`settings`: ClickHouse settings sent with every query (`database` among them)."""
        self._params = dict(settings or {})
        self._insert_params = INSERT_SETTINGS | self._params
        self._client = httpx.Client(base_url=url, timeout=timeout)

    def execute(self, sql: str, data: str | None = None) -> str:
        if data is None:
            return self._post(params=self._params, content=sql.encode())
        return self._post(params={**self._insert_params, "query": sql}, content=data.encode())

    def execute_with(self, sql: str, tables: Sequence[External]) -> str:
        """Run a SELECT that reads `tables`, sent along as external data (multipart; the
        query goes in the URL, so it must stay short: long lists belong in a table)."""
        params = dict(self._params, query=sql)
        for table in tables:
            params[f"{table.name}_structure"] = table.structure
            params[f"{table.name}_format"] = "TabSeparated"
        files = {table.name: (table.name, table.rows.encode()) for table in tables}
        return self._post(params=params, files=files)

    def _post(self, **request: Any) -> str:
        """The server's answer to one POST; any failure is `EventLogUnavailable`."""
        try:
            response = self._client.post("/", **request)
        except httpx.HTTPError as error:
            raise EventLogUnavailable(f"ClickHouse did not answer: {error}") from error
        if response.status_code != 200:
            raise EventLogUnavailable(
                f"ClickHouse answered {response.status_code}: {response.text.strip()[:500]}"
            )
        return response.text

    def close(self) -> None:
        self._client.close()


class ChdbTransport:
    """ClickHouse's engine in process (chdb), data kept in `path`; one statement at a time
    (a chdb session is not safe to share between threads)."""

    def __init__(self, path: str) -> None:
        try:
            from chdb import session as chdb_session
        except ImportError as error:  # pragma: no cover - depends on the install
            raise EventLogUnavailable(
                "METERING_EVENTLOG_URL names chdb, which is not installed (pip install chdb)"
            ) from error
        self._session: Any = chdb_session.Session(path)  # type: ignore[no-untyped-call]
        self._lock = threading.Lock()

    def execute(self, sql: str, data: str | None = None) -> str:
        statement = sql if data is None else f"{sql}\n{data}"
        with self._lock:
            try:
                result = self._session.query(statement, "TabSeparated")
            except Exception as error:
                raise EventLogUnavailable(f"chdb: {error}") from error
        return str(result.bytes().decode()) if result is not None else ""

    def execute_with(self, sql: str, tables: Sequence[External]) -> str:
        """Run a SELECT that reads `tables`: chdb takes no external data, so each goes to a
        Memory table of a unique name for the query, dropped after it."""
        names = {table.name: f"{table.name}_{secrets.token_hex(8)}" for table in tables}
        try:
            for table in tables:
                name = names[table.name]
                self.execute(f"CREATE TABLE {name} ({table.structure}) ENGINE = Memory")
                if table.rows:
                    self.execute(f"INSERT INTO {name} FORMAT TabSeparated", table.rows)
            for external, name in names.items():
                sql = re.sub(rf"\b{external}\b", name, sql)
            return self.execute(sql)
        finally:
            for name in names.values():
                self.execute(f"DROP TABLE IF EXISTS {name}")

    def close(self) -> None:
        with self._lock:
            self._session.close()
