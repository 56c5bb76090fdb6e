"""How SQL text reaches ClickHouse: chdb's engine in this process, or a server over HTTP."""

from __future__ import annotations

import base64
import http.client
import re
import secrets
import select
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit


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


def _readable(sock: socket.socket) -> bool:
    """Whether an idle connection has something to read: the server closed it (EOF)."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


POOL_SIZE = 8
"""Idle connections kept per server (more are opened while more statements run at once)."""


class HttpTransport:
    """A ClickHouse server's HTTP interface (port 8123 by default; https too), over the
    standard library's keep-alive connections, kept in a small pool: a statement costs a
    few tens of microseconds of Python here, against half a millisecond through a full
    HTTP client library, and ingestion sends two per pass."""

    def __init__(
        self, url: str, settings: dict[str, str] | None = None, timeout: float = 30.0
    ) -> None:
        """`url`: scheme, host, port and optional user:password; `settings`: ClickHouse
        settings sent with every query (`database` among them)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"expected http(s)://host[:port], got {url!r}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (8443 if self._https else 8123)
        self._timeout = timeout
        self._headers: dict[str, str] = {}
        if parts.username is not None:
            user = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            self._headers["Authorization"] = "Basic " + base64.b64encode(user.encode()).decode()
        self._params = dict(settings or {})
        self._insert_params = INSERT_SETTINGS | self._params
        self._idle: list[http.client.HTTPConnection] = []
        self._closed = False
        self._lock = threading.Lock()

    def execute(self, sql: str, data: str | None = None) -> str:
        if data is None:
            return self._post(self._params, sql.encode())
        return self._post({**self._insert_params, "query": sql}, data.encode())

    def execute_with(self, sql: str, tables: Sequence[External]) -> str:
        """Run a SELECT that reads `tables`, sent along as external data (multipart; the
        query goes in the URL, so it must stay short: long lists belong in a table)."""
        params = dict(self._params, query=sql)
        boundary = secrets.token_hex(16)
        body: list[bytes] = []
        for table in tables:
            params[f"{table.name}_structure"] = table.structure
            params[f"{table.name}_format"] = "TabSeparated"
            body.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{table.name}"; '
                f'filename="{table.name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
                f"{table.rows}\r\n".encode()
            )
        body.append(f"--{boundary}--\r\n".encode())
        content_type = f"multipart/form-data; boundary={boundary}"
        return self._post(params, b"".join(body), content_type)

    def _post(self, params: dict[str, str], body: bytes, content_type: str = "text/plain") -> str:
        """The server's answer to one POST; any failure is `EventLogUnavailable`. A kept-
        alive connection the server closed meanwhile is opened again and the statement
        sent once more (every statement here may run twice: an INSERT again stores rows
        the table replaces by key); a timeout is not retried."""
        target = "/?" + urlencode(params)
        headers = self._headers | {"Content-Type": content_type}
        for attempt in (1, 2):
            connection, reused = self._take()
            try:
                connection.request("POST", target, body, headers)
                response = connection.getresponse()
                text = response.read().decode()
            except (OSError, http.client.HTTPException) as error:
                connection.close()
                dropped = isinstance(error, ConnectionError | http.client.BadStatusLine)
                if reused and attempt == 1 and dropped:
                    continue
                raise EventLogUnavailable(f"ClickHouse did not answer: {error!r}") from error
            self._give(connection)
            if response.status != 200:
                raise EventLogUnavailable(
                    f"ClickHouse answered {response.status}: {text.strip()[:500]}"
                )
            return text
        raise AssertionError("unreachable")  # pragma: no cover

    def _take(self) -> tuple[http.client.HTTPConnection, bool]:
        """An idle connection (True: it served a statement before, and the server may
        have closed it since; one it closed already is dropped here) or a new one."""
        with self._lock:
            while self._idle:
                connection = self._idle.pop()
                if connection.sock is not None and not _readable(connection.sock):
                    return connection, True
                connection.close()  # closed by the server (EOF waiting), or never opened
        kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        return kind(self._host, self._port, timeout=self._timeout), False

    def _give(self, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < POOL_SIZE:
                self._idle.append(connection)
                return
        connection.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()


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
