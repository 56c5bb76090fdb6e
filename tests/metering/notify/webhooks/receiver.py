"""A real HTTP receiver on localhost that checks each delivery like a vendor's would.

It verifies the Standard Webhooks signature with the `standardwebhooks` package and
answers from a script of status codes (then 200), recording every request it got.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError


@dataclass(frozen=True)
class Received:
    webhook_id: str
    verified: bool
    body: dict[str, Any]
    answered: int


@dataclass
class Receiver:
    """What the receiver checks with (`secrets`), answers (`script`) and got (`received`)."""

    secrets: list[str] = field(default_factory=list)
    script: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    # Each request's body and headers as sent, to verify again with other secrets.
    raw: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)
    port: int = 0
    # Where a 3xx answer of the script points (its Location header).
    location: str | None = None
    # Serve https with this context (its certificate names the host the test plays).
    tls: ssl.SSLContext | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/hooks"

    def verify(self, body: bytes, headers: dict[str, str]) -> bool:
        for secret in self.secrets:
            try:
                Webhook(secret).verify(body, headers)
                return True
            except WebhookVerificationError:
                continue
        return False


def free_port() -> int:
    """A port nothing listens on (for a receiver that is down, started there later)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def running(receiver: Receiver) -> Iterator[Receiver]:
    """Serve `receiver` on its port (a free one when 0) until the block ends."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {name.lower(): value for name, value in self.headers.items()}
            status = receiver.script.pop(0) if receiver.script else 200
            receiver.raw.append((body, headers))
            receiver.received.append(
                Received(
                    webhook_id=headers.get("webhook-id", ""),
                    verified=receiver.verify(body, headers),
                    body=json.loads(body),
                    answered=status,
                )
            )
            self.send_response(status)
            if receiver.location is not None and 300 <= status < 400:
                self.send_header("location", receiver.location)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", receiver.port), Handler)
    if receiver.tls is not None:
        server.socket = receiver.tls.wrap_socket(server.socket, server_side=True)
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
