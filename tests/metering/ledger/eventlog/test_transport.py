"""The HTTP transport against a small server of the test's own (real sockets): kept-alive
connections the server closed are opened again, and every failure names what happened."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from metering.ledger.eventlog.transports import EventLogUnavailable, External, HttpTransport
from tests.metering.ledger.eventlog.server import free_ports


class Stub(ThreadingHTTPServer):
    """Answers each POST with `answer` (status, text); `close_after` drops the connection
    after answering, without saying so (as a server's keep-alive timeout does);
    `drop_second` drops it on a connection's second statement, unanswered; `slow_second`
    answers that one after so many seconds."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.answer = (200, "1\n")
        self.close_after = False
        self.drop_second = False
        self.slow_second = 0.0
        self.connections = 0
        self.seen: list[dict[str, Any]] = []


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Stub

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1
        self.answered = 0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.seen.append({"path": self.path, "headers": dict(self.headers), "body": body})
        if self.server.drop_second and self.answered == 1:
            self.close_connection = True  # gone without an answer, as at a timeout's edge
            return
        if self.answered == 1:
            time.sleep(self.server.slow_second)
        self.answered += 1
        status, text = self.server.answer
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = self.server.close_after

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def stub() -> Iterator[Stub]:
    server = Stub()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def url(stub: Stub, userinfo: str = "") -> str:
    return f"http://{userinfo}127.0.0.1:{stub.server_address[1]}"


def test_statements_share_a_kept_alive_connection(stub: Stub) -> None:
    transport = HttpTransport(url(stub), {"database": "db"})
    assert [transport.execute("SELECT 1") for _ in range(3)] == ["1\n"] * 3
    assert stub.connections == 1
    assert stub.seen[0]["path"] == "/?database=db" and stub.seen[0]["body"] == b"SELECT 1"
    transport.close()


def test_a_connection_the_server_closed_is_opened_again(stub: Stub) -> None:
    stub.close_after = True
    transport = HttpTransport(url(stub))
    assert [transport.execute("SELECT 1") for _ in range(3)] == ["1\n"] * 3
    assert stub.connections == 3
    assert len(stub.seen) == 3  # each statement ran once
    transport.close()


def test_a_statement_the_server_dropped_on_a_kept_alive_connection_is_sent_again(
    stub: Stub,
) -> None:
    stub.drop_second = True
    transport = HttpTransport(url(stub))
    assert [transport.execute(f"SELECT {n}") for n in range(2)] == ["1\n"] * 2
    assert [seen["body"] for seen in stub.seen] == [b"SELECT 0", b"SELECT 1", b"SELECT 1"]
    assert stub.connections == 2
    transport.close()


def test_a_statement_that_timed_out_is_not_sent_again(stub: Stub) -> None:
    stub.slow_second = 1.0
    transport = HttpTransport(url(stub), timeout=0.3)
    transport.execute("SELECT 0")
    with pytest.raises(EventLogUnavailable, match="ClickHouse did not answer: TimeoutError"):
        transport.execute("SELECT 1")
    time.sleep(1.0)
    assert [seen["body"] for seen in stub.seen] == [b"SELECT 0", b"SELECT 1"]


def test_an_insert_sends_its_rows_and_settings(stub: Stub) -> None:
    transport = HttpTransport(url(stub), {"database": "db"})
    transport.execute("INSERT INTO t FORMAT TabSeparated", "a\t1\n")
    (seen,) = stub.seen
    assert seen["body"] == b"a\t1\n"
    assert "query=INSERT+INTO+t+FORMAT+TabSeparated" in seen["path"]
    assert "max_compress_block_size=65536" in seen["path"] and "database=db" in seen["path"]


def test_external_tables_travel_as_multipart_parts(stub: Stub) -> None:
    transport = HttpTransport(url(stub))
    asked = External("asked", "event_id String", "e1\ne\\t2\n")
    transport.execute_with("SELECT count() FROM asked", [asked])
    (seen,) = stub.seen
    assert "asked_structure=event_id+String" in seen["path"]
    assert seen["headers"]["Content-Type"].startswith("multipart/form-data; boundary=")
    assert b'name="asked"; filename="asked"' in seen["body"]
    assert b"\r\n\r\ne1\ne\\t2\n\r\n" in seen["body"]


def test_credentials_in_the_url_are_sent_as_basic_auth(stub: Stub) -> None:
    HttpTransport(url(stub, "writer:p%40ss@")).execute("SELECT 1")
    expected = "Basic " + base64.b64encode(b"writer:p@ss").decode()
    assert stub.seen[0]["headers"]["Authorization"] == expected


def test_the_servers_error_is_named(stub: Stub) -> None:
    stub.answer = (404, "Code: 60, e.displayText() = DB::Exception: Table default.x doesn't exist")
    with pytest.raises(EventLogUnavailable, match="ClickHouse answered 404: Code: 60"):
        HttpTransport(url(stub)).execute("SELECT * FROM x")


def test_no_server_is_unavailable_not_retried() -> None:
    (port,) = free_ports(1)
    transport = HttpTransport(f"http://127.0.0.1:{port}")
    with pytest.raises(EventLogUnavailable, match="ClickHouse did not answer"):
        transport.execute("SELECT 1")


def test_a_url_that_is_not_http_is_refused() -> None:
    with pytest.raises(ValueError, match="expected http"):
        HttpTransport("ftp://127.0.0.1:21")
